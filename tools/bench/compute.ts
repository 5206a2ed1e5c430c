import { spawnSync } from 'node:child_process';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { readIfThere } from './host.ts';
import { percentile, round } from './stats.ts';

/**
 * What one core of this machine takes for a fixed piece of the services' own kind of
 * work, with nothing else running: a 1 KB event serialised and parsed (as each hop does
 * with every event), and its HMAC-SHA256 (as the deliverer signs every webhook). Pure
 * computation on one thread: no system calls, no other thread to wake.
 *
 * The pipeline's rate differs by up to twice between boots of this machine with the
 * same processor at the same clock (docs/performance.md). Beside the wake-up cost
 * (wakeup.ts), it is meant to tell a core that itself runs slower (the host busier, or in
 * another power state) from cores that run as fast but are harder to share;
 * docs/performance.md says what it has found.
 *
 *   npm run bench:compute          prints it for each vCPU, as JSON
 */

/** Operations per round, and rounds: the median round is reported. */
const OPERATIONS = 20_000;
const ROUNDS = 7;
/** Set in the process that measures, which this module starts and reads. */
const CHILD_ENV = 'HOOKPOST_COMPUTE_CHILD';

export interface Compute {
  /** One 1 KB event through `JSON.stringify` and `JSON.parse`, µs (median of the rounds). */
  json_us: number;
  /** One HMAC-SHA256 of a 1 KB body with a prepared key, µs (median of the rounds). */
  hmac_us: number;
}

function event(seq: number) {
  return {
    id: `evt_compute_${seq}`,
    type: 'message.delivered',
    organization_id: 'org_compute',
    occurred_at: new Date(1_764_000_000_000 + seq).toISOString(),
    data: {
      message_id: `<compute-${seq}@example.org>`,
      from: 'news@example.org',
      to: `reader${seq % 1000}@example.org`,
      subject: 'Your weekly digest',
      pad: 'x'.repeat(760),
    },
  };
}

/** The median over ROUNDS of `operation`'s time, per call, in µs. */
function timed(operation: (i: number) => unknown): number {
  const perCall: number[] = [];
  let sink = 0;
  for (let pass = 0; pass <= ROUNDS; pass++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < OPERATIONS; i++) sink += operation(i) ? 1 : 0;
    const us = Number(process.hrtime.bigint() - start) / 1_000 / OPERATIONS;
    // The first round warms the JIT up, and is not counted.
    if (pass > 0) perCall.push(us);
  }
  if (sink < 0) throw new Error('unreachable: keeps the work from being optimised away');
  perCall.sort((a, b) => a - b);
  return round(percentile(perCall, 50), 2);
}

/** 1 KB events to work on (a few, so that no one string stays in a cache). */
export function probeEvents(): ReturnType<typeof event>[] {
  return Array.from({ length: 64 }, (_, i) => event(i));
}

/**
 * The JSON probe's unit of work, the same here and in the watch (vcpu-watch.ts), so that
 * their figures compare: the `i`th of `events`, in turn, serialised and parsed.
 */
export const jsonRoundTrip = (events: readonly object[], i: number): unknown =>
  JSON.parse(JSON.stringify(events[i % events.length]));

function measure(): Compute {
  const events = probeEvents();
  const json_us = timed((i) => jsonRoundTrip(events, i));
  const key = createSecretKey(randomBytes(32));
  const bodies = events.map((e) => JSON.stringify(e));
  const hmac_us = timed((i) =>
    createHmac('sha256', key)
      .update(bodies[i % bodies.length]!)
      .digest('base64'),
  );
  return { json_us, hmac_us };
}

/** Probes per vCPU, taken in turns across the vCPUs: a vCPU's speed can change within seconds. */
const PROBES = 3;

/** Each vCPU's probes, in the order they ran (µs per operation, as in `Compute`). */
export type ComputeByCpu = Record<string, { json_us: number[]; hmac_us: number[] }>;

/**
 * The vCPUs this process may run on (`Cpus_allowed_list` in /proc/self/status, such as
 * `0-1` or `0,2-3`), or none where that or taskset is missing.
 */
export function allowedCpus(): string[] {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readIfThere('/proc/self/status') ?? '')?.[1];
  if (!list || spawnSync('taskset', ['-c', list, 'true']).status !== 0) return [];
  return list.split(',').flatMap((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, i) => String(from! + i));
  });
}

/**
 * Each probe in a process of its own, pinned to one vCPU (`taskset -c`), so that no other
 * heap or timer of the caller weighs and each vCPU is measured apart: on this machine the
 * probe can take twice as long on one vCPU as on the other for seconds or minutes
 * (docs/performance.md).
 * Without taskset, the probes run unpinned, under `any`.
 */
export function measureCompute(): ComputeByCpu {
  const self = [process.execPath, ...process.execArgv, new URL(import.meta.url).pathname];
  const cpus = allowedCpus();
  const runs =
    cpus.length > 0
      ? cpus.map((cpu) => [`cpu${cpu}`, ['taskset', '-c', cpu, ...self]] as const)
      : [['any', self] as const];
  const byCpu: ComputeByCpu = Object.fromEntries(
    runs.map(([label]) => [label, { json_us: [], hmac_us: [] }]),
  );
  for (let probe = 0; probe < PROBES; probe++) {
    for (const [label, [command, ...args]] of runs) {
      const child = spawnSync(command!, args, {
        encoding: 'utf8',
        env: { ...process.env, [CHILD_ENV]: '1' },
      });
      if (child.status !== 0) throw new Error(`the compute measurement failed: ${child.stderr}`);
      const measured = JSON.parse(child.stdout) as Compute;
      byCpu[label]!.json_us.push(measured.json_us);
      byCpu[label]!.hmac_us.push(measured.hmac_us);
    }
  }
  return byCpu;
}

if (process.env[CHILD_ENV]) process.stdout.write(JSON.stringify(measure()));
else if (process.argv[1] === new URL(import.meta.url).pathname)
  process.stdout.write(`${JSON.stringify(measureCompute(), null, 2)}\n`);
