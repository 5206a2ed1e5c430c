import { spawnSync } from 'node:child_process';
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { readIfThere } from './host.ts';

/**
 * What it costs this machine to wake a sleeping thread: two threads hand a turn back and
 * forth through a futex (`Atomics.wait` / `Atomics.notify`), nothing else. Every Kafka
 * request and response, every Postgres statement and every webhook the pipeline sends
 * wakes a thread of another process like this, several times per round trip.
 *
 * Measured twice: free to run on both cores, and pinned to one (`taskset -c 0`). On a
 * virtual machine whose idle vCPUs halt at once, waking a thread on the other, halted
 * vCPU goes through the hypervisor, and costs many times what it costs on the same core.
 *
 *   npm run bench:wakeup          prints both, as JSON
 */

const ROUND_TRIPS = 20_000;
/** Set in the process that measures, which this module starts (twice) and reads. */
const CHILD_ENV = 'HOOKPOST_WAKEUP_CHILD';

interface Measured {
  /** Wall time of one round trip (two wake-ups), µs. */
  round_trip_us: number;
  /** CPU time of both threads per round trip, µs. */
  cpu_us: number;
}

export interface Wakeup {
  /** Free to run on both cores: on a quiet machine the two threads run on different ones. */
  across_cores: Measured;
  one_core: Measured | null;
  /**
   * The guest's halt-polling window (cpuidle haltpoll), ns: how long an idle vCPU spins
   * before it halts. Null where the kernel has no such setting.
   */
  guest_halt_poll_ns: number | null;
}

function pingPong(): Measured {
  // [0]: whose turn it is (1 the worker's, 0 this thread's, -1 stop); [1]: the worker has
  // started, so that its start-up is not measured.
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL(import.meta.url), { workerData: flag });
  Atomics.wait(flag, 1, 0);
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    while (Atomics.load(flag, 0) === 1) Atomics.wait(flag, 0, 1);
  }
  const wallUs = Number(process.hrtime.bigint() - start) / 1_000;
  const used = process.cpuUsage(cpu);
  Atomics.store(flag, 0, -1);
  Atomics.notify(flag, 0);
  void worker.terminate();
  const round = (us: number) => Math.round((us / ROUND_TRIPS) * 10) / 10;
  return { round_trip_us: round(wallUs), cpu_us: round(used.user + used.system) };
}

function worker(flag: Int32Array): void {
  Atomics.store(flag, 1, 1);
  Atomics.notify(flag, 1);
  for (;;) {
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0);
    if (Atomics.load(flag, 0) === -1) return;
    Atomics.store(flag, 0, 0);
    Atomics.notify(flag, 0);
  }
}

function haltPollNs(): number | null {
  const text = readIfThere('/sys/module/haltpoll/parameters/guest_halt_poll_ns');
  return text === undefined ? null : Number(text.trim());
}

/** Both measurements, each in a process of its own; `one_core` is null without taskset. */
export function measureWakeup(): Wakeup {
  const run = (command: string[]): Measured | null => {
    const child = spawnSync(command[0]!, command.slice(1), {
      encoding: 'utf8',
      env: { ...process.env, [CHILD_ENV]: '1' },
    });
    return child.status === 0 ? (JSON.parse(child.stdout) as Measured) : null;
  };
  const self = [process.execPath, ...process.execArgv, new URL(import.meta.url).pathname];
  const acrossCores = run(self);
  if (!acrossCores) throw new Error('the wake-up measurement failed');
  return {
    across_cores: acrossCores,
    one_core: run(['taskset', '-c', '0', ...self]),
    guest_halt_poll_ns: haltPollNs(),
  };
}

if (!isMainThread) worker(workerData as Int32Array);
else if (process.env[CHILD_ENV]) process.stdout.write(JSON.stringify(pingPong()));
else if (process.argv[1] === new URL(import.meta.url).pathname)
  process.stdout.write(`${JSON.stringify(measureWakeup(), null, 2)}\n`);
