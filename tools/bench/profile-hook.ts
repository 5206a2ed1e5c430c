import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * Preloaded into each service by `npm run bench:pipeline -- --profile` (`node --import`):
 * the first SIGUSR2 starts a CPU profile and a sampling allocation profile, the second
 * writes them to `$HOOKPOST_PROFILE/<service>.cpuprofile` and `<service>.heapprofile`
 * (for Chrome DevTools or speedscope). `--cpu-prof` would profile the whole life of the
 * process and needs a clean exit; the services end on SIGTERM.
 */
const dir = process.env.HOOKPOST_PROFILE;
const service = /apps\/([^/]+)\/dist/.exec(process.argv[1] ?? '')?.[1];

if (dir && service) {
  const session = new Session();
  session.connect();
  let profiling = false;
  const start = async () => {
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
  };
  process.on('SIGUSR2', () => {
    profiling = !profiling;
    (profiling ? start() : stop()).catch((error: unknown) =>
      process.stderr.write(`profile: ${String(error)}\n`),
    );
  });
}
