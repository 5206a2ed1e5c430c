import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';

/**
 * Preloaded into each service by `npm run bench:pipeline -- --profile` (`node --import`):
 * the first SIGUSR2 starts a CPU profile and a sampling allocation profile, the second
 * writes them to `$HOOKPOST_PROFILE/<service>.cpuprofile` and `<service>.heapprofile`
 * (for Chrome DevTools or speedscope), and the Kafka requests it sent meanwhile, per API
 * and per second, to `<service>.requests.json`: the broker's cost is per request.
 * `--cpu-prof` would profile the whole life of the process and needs a clean exit; the
 * services end on SIGTERM.
 */
const dir = process.env.HOOKPOST_PROFILE;
const service = /apps\/([^/]+)\/dist/.exec(process.argv[1] ?? '')?.[1];

if (dir && service) {
  const session = new Session();
  session.connect();
  let profiling = false;
  const requests = countKafkaRequests();
  const start = async () => {
    requests.reset();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await session.post('HeapProfiler.enable');
    // One sample per 32 KB allocated on average (V8's default), enough at 1,000/s; objects
    // already collected count too, so the profile shows what is allocated, not what is kept.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 32_768,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  };
  const stop = async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${dir}/${service}.cpuprofile`, JSON.stringify(profile));
    const { profile: heap } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(`${dir}/${service}.heapprofile`, JSON.stringify(heap));
    writeFileSync(`${dir}/${service}.requests.json`, JSON.stringify(requests.perSecond()));
  };
  process.on('SIGUSR2', () => {
    profiling = !profiling;
    (profiling ? start() : stop()).catch((error: unknown) =>
      process.stderr.write(`profile: ${String(error)}\n`),
    );
  });
}

/** Counts the requests kafkajs sends, by API name, from the service's own copy of kafkajs. */
function countKafkaRequests(): { reset(): void; perSecond(): Record<string, number> } {
  const require = createRequire(process.argv[1]!);
  const { prototype } = require('kafkajs/src/network/connection.js') as {
    prototype: { send(this: unknown, protocol: { request: { apiName: string } }): unknown };
  };
  let counts = new Map<string, number>();
  let since = performance.now();
  const send = prototype.send;
  prototype.send = function (protocol) {
    const name = protocol.request.apiName;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return send.call(this, protocol);
  };
  return {
    reset() {
      counts = new Map();
      since = performance.now();
    },
    perSecond() {
      const seconds = (performance.now() - since) / 1000;
      return Object.fromEntries(
        [...counts].map(([name, count]) => [name, Math.round((count / seconds) * 10) / 10]),
      );
    },
  };
}
