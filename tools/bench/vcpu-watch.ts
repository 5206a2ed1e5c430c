import { spawn, type ChildProcess } from 'node:child_process';
import { now } from './clock.ts';
import { allowedCpus, jsonRoundTrip, probeEvents } from './compute.ts';
import { percentile, round } from './stats.ts';

/**
 * Each vCPU's speed through a benchmark run, once a second: a process pinned to each
 * vCPU serialises and parses a 1 KB event two thousand times (about 4 ms of work) and
 * reports the CPU time it took per event. On this machine such a probe can take twice
 * as long for seconds or minutes on one vCPU (compute.ts, docs/performance.md); this
 * shows when, beside the run's figures, to see whether they move with it. CPU time, not
 * wall time: a probe that waits for its core while the pipeline runs there is not
 * slower, a probe on a slowed core is (the guest charges the time the host takes from
 * it to whatever was running).
 *
 * Its cost is about 5 ms a second on each vCPU, half a percent.
 */

/** Events per probe: about 4 ms at full speed on this machine. */
const EVENTS_PER_PROBE = 2_000;
/**
 * Events worked on unmeasured before each probe: after a second asleep, the first few
 * take longer whatever the vCPU's speed (its caches and branch predictors cold).
 */
const EVENTS_BEFORE_PROBE = 200;
const PROBE_INTERVAL_MS = 1_000;
/** The first probes run before the JIT has optimised the work, and are not kept. */
const WARMUP_PROBES = 5;

interface Sample {
  t: number;
  us: number;
}

export class VcpuWatch {
  private readonly samples = new Map<string, Sample[]>();
  private readonly children: ChildProcess[] = [];

  /** Starts a probe on each vCPU; none where taskset is missing. */
  static start(): VcpuWatch {
    const watch = new VcpuWatch();
    for (const cpu of allowedCpus()) {
      const label = `cpu${cpu}`;
      const samples: Sample[] = [];
      watch.samples.set(label, samples);
      const child = spawn(
        'taskset',
        ['-c', cpu, process.execPath, ...process.execArgv, new URL(import.meta.url).pathname],
        {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          env: { ...process.env, [CHILD_ENV]: '1' },
        },
      );
      child.on('message', (sample: Sample) => samples.push(sample));
      watch.children.push(child);
    }
    return watch;
  }

  /**
   * Each vCPU's median CPU time per event, µs, over the probes taken from `from` to `to`
   * (the benchmark's clock); NaN (null in the results) for a vCPU with none.
   */
  during(from: number, to: number): Record<string, number> {
    return Object.fromEntries(
      [...this.samples].map(([label, samples]) => {
        const within = samples
          .filter((s) => s.t >= from && s.t <= to)
          .map((s) => s.us)
          .sort((a, b) => a - b);
        return [label, round(percentile(within, 50), 2)];
      }),
    );
  }

  stop(): void {
    for (const child of this.children) child.kill();
  }
}

const CHILD_ENV = 'HOOKPOST_VCPU_WATCH_CHILD';

function probe(): void {
  const events = probeEvents();
  let taken = 0;
  let sink = 0;
  setInterval(() => {
    for (let i = 0; i < EVENTS_BEFORE_PROBE; i++) sink += jsonRoundTrip(events, i) ? 1 : 0;
    const before = process.cpuUsage();
    for (let i = 0; i < EVENTS_PER_PROBE; i++) sink += jsonRoundTrip(events, i) ? 1 : 0;
    const used = process.cpuUsage(before);
    if (sink < 0) throw new Error('unreachable: keeps the work from being optimised away');
    if (++taken > WARMUP_PROBES)
      process.send!({ t: now(), us: (used.user + used.system) / EVENTS_PER_PROBE });
  }, PROBE_INTERVAL_MS);
  // Ends with the benchmark, whichever way it ends.
  process.on('disconnect', () => process.exit(0));
}

if (process.env[CHILD_ENV]) probe();
