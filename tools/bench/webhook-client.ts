import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, type Pool, request } from 'undici';
import { build } from '../dev/build.ts';
import { ROOT } from '../infra/system.ts';
import { optionValue } from './options.ts';

/**
 * `npm run bench:webhook-client`: the CPU the deliverer's HTTP client spends per webhook
 * (apps/deliverer/src/http/webhook-client.ts: undici's handler interface, a deadline per
 * webhook, the SSRF checks), against undici's `request` used the usual way (a response
 * stream, read to its end, and an AbortSignal for the deadline), which the deliverer used
 * until 2026-12-02. 1 KB bodies with the deliverer's headers, 64 in flight, to a
 * keep-alive receiver in its own process; CPU is this process's (user and system), so
 * the receiver's does not count. Rounds take turns, and the median is reported.
 *
 * `--in-flight=1000` holds as many requests, and so connections, open at once, as the
 * deliverer does with a thousand jobs for one receiving host. The `request` client runs
 * a second time on the deliverer's pool (free-list-pool.ts), which finds a free
 * connection without looking through all of them as undici's own `Pool` does.
 */

interface Client {
  post(webhook: {
    url: string;
    headers: Record<string, string>;
    body: string;
  }): Promise<{ kind: string }>;
  close(): Promise<void>;
}

const REQUESTS = 30_000;
const IN_FLIGHT_VALUE = optionValue(process.argv.slice(2), 'in-flight');
const IN_FLIGHT = Number(IN_FLIGHT_VALUE ?? 64);
if (!Number.isInteger(IN_FLIGHT) || IN_FLIGHT < 1) {
  throw new Error(`--in-flight takes a whole number of requests, not ${IN_FLIGHT_VALUE}`);
}
const ROUNDS = 3;

const RECEIVER = `
  const server = require('node:http').createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const body = JSON.stringify({ type: 'message.delivered', data: { text: 'x'.repeat(1_000) } });
const headers = {
  'content-type': 'application/json',
  'user-agent': 'Hookpost/bench',
  'webhook-id': 'del_7X9WHD2W7Q71A9T58FR4Z3C3N4',
  'webhook-timestamp': '1764687600',
  'webhook-signature': `v1,${'a'.repeat(44)}`,
  'x-webhook-signature': `sha256=${'b'.repeat(64)}`,
};

/** undici's `request` with a response stream and an AbortSignal deadline. */
function streamClient(timeoutMs: number, factory?: Agent.Options['factory']): Client {
  const agent = new Agent({ connections: null, keepAliveTimeout: 30_000, factory });
  return {
    async post(webhook) {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeoutMs).unref();
      try {
        const response = await request(webhook.url, {
          method: 'POST',
          headers: webhook.headers,
          body: webhook.body,
          dispatcher: agent,
          signal: deadline.signal,
        });
        await response.body.dump({ limit: 4_096 });
        return { kind: response.statusCode === 200 ? 'response' : 'error' };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => agent.close(),
  };
}

async function round(client: Client, url: string, count: number) {
  let started = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started++ < count) {
        const result = await client.post({ url, headers, body });
        if (result.kind !== 'response')
          throw new Error(`request failed: ${JSON.stringify(result)}`);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    cpuMicros: (used.user + used.system) / count,
    perSecond: count / ((performance.now() - t0) / 1_000),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function main(): Promise<void> {
  build();
  const { WebhookClient } = (await import(`${ROOT}apps/deliverer/dist/http/webhook-client.js`)) as {
    WebhookClient: new (policy: object, timeoutMs: number) => Client;
  };
  const { FreeListPool } = (await import(`${ROOT}apps/deliverer/dist/http/free-list-pool.js`)) as {
    FreeListPool: new (origin: string | URL, options: object) => Pool;
  };
  const { parseAllowedNetworks } = (await import(`${ROOT}libs/domain/dist/index.js`)) as {
    parseAllowedNetworks: (cidrs: string) => unknown;
  };
  const receiver = spawn(process.execPath, ['-e', RECEIVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(receiver.stdout, 'data')) as [Buffer];
  const url = `http://127.0.0.1:${line.toString().trim()}/hook`;
  const clients: Record<string, Client> = {
    'deliverer (undici handler interface)': new WebhookClient(
      { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8') },
      10_000,
    ),
    'undici request + stream + AbortSignal': streamClient(10_000),
    "the same, on the deliverer's pool": streamClient(
      10_000,
      (origin, options) => new FreeListPool(origin, options),
    ),
  };
  try {
    const results = new Map<string, Array<{ cpuMicros: number; perSecond: number }>>();
    for (const client of Object.values(clients)) await round(client, url, REQUESTS / 3); // warm-up
    // Each round starts with the next client: the one that runs last in a round pays for
    // the garbage of the others (3 µs a request more at 64 in flight, whichever it is).
    const entries = Object.entries(clients);
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < entries.length; i++) {
        const [name, client] = entries[(r + i) % entries.length]!;
        results.set(name, [...(results.get(name) ?? []), await round(client, url, REQUESTS)]);
      }
    }
    process.stdout.write(
      `${REQUESTS} POSTs of ${body.length} bytes, ${IN_FLIGHT} in flight, median of ${ROUNDS}:\n`,
    );
    for (const [name, rounds] of results) {
      const cpu = median(rounds.map((x) => x.cpuMicros)).toFixed(1);
      const rate = Math.round(median(rounds.map((x) => x.perSecond)));
      process.stdout.write(
        `  ${name.padEnd(40)} ${cpu.padStart(6)} µs CPU per request, ${rate} requests/s\n`,
      );
    }
  } finally {
    for (const client of Object.values(clients)) await client.close();
    receiver.kill();
  }
}

await main();
