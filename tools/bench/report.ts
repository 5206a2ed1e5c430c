import type { HopLatencies } from './hops.ts';
import type { HostFacts } from './host.ts';
import type { PostgresUpkeep } from './postgres-watch.ts';
import type { ReceiverConnections } from './receiver-client.ts';
import { formatSlowest, type Ledger, type SlowestSeconds } from './summary.ts';

/** Each vCPU's speed (vcpu-watch.ts), as the table and the progress lines print it. */
export const formatVcpus = (byCpu: Record<string, number>): string =>
  Object.entries(byCpu)
    .map(([cpu, us]) => `${cpu} ${us}`)
    .join(', ') || 'not watched';

/**
 * A part of the machine's CPU as the table names it: `kernel` is not a part beside the
 * others, but their time in the kernel.
 */
const part = (key: string): string => (key === 'kernel' ? 'of all: in the kernel' : key);

/** Postgres's upkeep in one run, as the table prints it. */
const formatUpkeep = (p: PostgresUpkeep): string =>
  `${p.wal_bytes_per_delivery} B, ${p.full_page_images_per_delivery}; ${p.checkpoints}; ${p.autovacuum_runs} in ${p.autovacuum_seconds} s`;

/** The deliverer's connections to the receiver in one run, as the table prints them. */
const formatConnections = (c: ReceiverConnections): string =>
  `${c.opened}, ${c.closed}, ${c.most_open}`;

/** The results' main figures as a table on stdout, each beside its target. */
export function printTable(r: {
  deliveries_per_s: number;
  ratio_to_baseline: number;
  ratio_to_limit: number;
  latency_ms: { p50: number; p99: number; p999: number };
  latency_rate: number;
  cpu_seconds_per_delivery: number;
  cpu_ms_per_delivery: Record<string, number>;
  event_loop_utilisation: Record<string, number>;
  waiting_for_core: Record<string, number>;
  gc_share: Record<string, number>;
  peak_rss_mb: Record<string, number>;
  idle_cpu_percent: Record<string, number>;
  ledger: Ledger;
  warmup: { rate: number; seconds: number; broker_jit_cores: number };
  scenarios: {
    after_steps: {
      latency_ms: { p99: number };
      slowest_seconds: SlowestSeconds;
      receiver_connections: ReceiverConnections;
    };
    steady: {
      hops_ms: HopLatencies;
      slowest_seconds: SlowestSeconds;
      vcpu_json_us: Record<string, number>;
      postgres: PostgresUpkeep;
      receiver_connections: ReceiverConnections;
    };
    isolation: {
      throughput_kept: number;
      p99_ratio: number;
      control: {
        healthy_p99_ms: number;
        p99_ratio: number;
        healthy_hops_ms: HopLatencies;
        healthy_slowest_seconds: SlowestSeconds;
        postgres: PostgresUpkeep;
        receiver_connections: ReceiverConnections;
      };
      cpu_cores: number;
      cpu_cores_all_healthy_run: number;
      cpu_cores_by_process: Record<string, number>;
      cpu_cores_by_process_all_healthy_run: Record<string, number>;
      deliverer_per_s: Record<string, number>;
      healthy_hops_ms: HopLatencies;
      healthy_slowest_seconds: SlowestSeconds;
      postgres: PostgresUpkeep;
      receiver_connections: ReceiverConnections;
    };
    retries: { early_count: number; late_max_ms: number; late_p99_ms: number };
  };
  limits: Record<string, unknown>;
  host: HostFacts;
  wall_clock_step_ms: number;
}): void {
  const rows: Array<[string, string, string]> = [
    ['sustained deliveries/s', String(r.deliveries_per_s), '>= 5000'],
    ['ratio to minimal baseline', String(r.ratio_to_baseline), '>= 0.8'],
    ['ratio to min(raw HTTP, raw consume)', String(r.ratio_to_limit), ''],
    [`latency p50 at ${r.latency_rate}/s`, `${r.latency_ms.p50} ms`, '< 10 ms'],
    [`latency p99 at ${r.latency_rate}/s`, `${r.latency_ms.p99} ms`, '< 50 ms'],
    [`latency p99.9 at ${r.latency_rate}/s`, `${r.latency_ms.p999} ms`, ''],
    ...Object.entries(r.scenarios.steady.hops_ms).map(
      ([hop, { p50, p99 }]): [string, string, string] => [
        `  of which ${hop}, p50 / p99`,
        `${p50} / ${p99} ms`,
        '',
      ],
    ),
    ['p99 of the slowest seconds', formatSlowest(r.scenarios.steady.slowest_seconds), ''],
    ['each vCPU, µs per probe event (steady)', formatVcpus(r.scenarios.steady.vcpu_json_us), ''],
    [
      'warm-up; the broker JIT in its last round',
      `${r.warmup.seconds} s at ${r.warmup.rate}/s; ${r.warmup.broker_jit_cores} cores`,
      '',
    ],
    ['CPU-seconds per delivery (services)', String(r.cpu_seconds_per_delivery), ''],
    ...Object.entries(r.cpu_ms_per_delivery).map(([k, v]): [string, string, string] => [
      `  CPU ms per delivery, ${part(k)}`,
      String(v),
      '',
    ]),
    ...Object.entries(r.event_loop_utilisation).map(([k, v]): [string, string, string] => [
      `  event-loop utilisation, ${k}`,
      String(v),
      '',
    ]),
    ...Object.entries(r.waiting_for_core).map(([k, v]): [string, string, string] => [
      `  main thread waiting for a core, ${k}`,
      String(v),
      '',
    ]),
    ...Object.entries(r.gc_share).map(([k, v]): [string, string, string] => [
      `  GC pauses, share of time, ${k}`,
      String(v),
      '',
    ]),
    [
      'after the steps (not compared): p99, slowest seconds',
      `${r.scenarios.after_steps.latency_ms.p99} ms; ${formatSlowest(r.scenarios.after_steps.slowest_seconds)}`,
      '',
    ],
    ['isolation: healthy throughput kept', String(r.scenarios.isolation.throughput_kept), '>= 0.9'],
    ['isolation: healthy p99 ratio', String(r.scenarios.isolation.p99_ratio), '<= 1.2'],
    [
      '  control: the same ratio, all-healthy run / the one before',
      `${r.scenarios.isolation.control.p99_ratio} (of ${r.scenarios.isolation.control.healthy_p99_ms} ms)`,
      '',
    ],
    [
      '  control: hops p99, produce, ingest, match, deliver',
      Object.values(r.scenarios.isolation.control.healthy_hops_ms)
        .map(({ p99 }) => p99)
        .join(', '),
      '',
    ],
    [
      '  control: healthy p99 of the slowest seconds',
      formatSlowest(r.scenarios.isolation.control.healthy_slowest_seconds),
      '',
    ],
    [
      'isolation: CPU cores in use, all-healthy / isolation',
      `${r.scenarios.isolation.cpu_cores_all_healthy_run} / ${r.scenarios.isolation.cpu_cores}`,
      '',
    ],
    ...Object.entries(r.scenarios.isolation.cpu_cores_by_process).map(
      ([key, cores]): [string, string, string] => [
        `  isolation: cores, ${part(key)}`,
        `${r.scenarios.isolation.cpu_cores_by_process_all_healthy_run[key]} / ${cores}`,
        '',
      ],
    ),
    ...Object.entries(r.scenarios.isolation.healthy_hops_ms).map(
      ([hop, { p50, p99 }]): [string, string, string] => [
        `  isolation: healthy, of which ${hop}, p50 / p99`,
        `${p50} / ${p99} ms`,
        '',
      ],
    ),
    [
      'isolation: healthy p99 of the slowest seconds',
      formatSlowest(r.scenarios.isolation.healthy_slowest_seconds),
      '',
    ],
    [
      'Postgres: WAL per delivery, full-page images per delivery; checkpoints begun; autovacuum runs',
      '',
      '',
    ],
    ['  control', formatUpkeep(r.scenarios.isolation.control.postgres), ''],
    ['  steady', formatUpkeep(r.scenarios.steady.postgres), ''],
    ['  isolation (per healthy delivery)', formatUpkeep(r.scenarios.isolation.postgres), ''],
    ["the deliverer's connections to the receiver: opened, closed, most open at once", '', ''],
    ['  after the steps', formatConnections(r.scenarios.after_steps.receiver_connections), ''],
    ['  control', formatConnections(r.scenarios.isolation.control.receiver_connections), ''],
    ['  steady', formatConnections(r.scenarios.steady.receiver_connections), ''],
    ['  isolation', formatConnections(r.scenarios.isolation.receiver_connections), ''],
    [
      'isolation: the deliverer per second',
      Object.entries(r.scenarios.isolation.deliverer_per_s)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(', '),
      '',
    ],
    ['retries fired early', String(r.scenarios.retries.early_count), '0'],
    [
      'retry lateness p99 / max',
      `${r.scenarios.retries.late_p99_ms} / ${r.scenarios.retries.late_max_ms} ms`,
      '< 1000 ms',
    ],
    ...Object.entries(r.limits).map(([k, v]): [string, string, string] => [
      k,
      typeof v === 'object' ? JSON.stringify(v) : String(v),
      '',
    ]),
    ...Object.entries(r.peak_rss_mb).map(([k, v]): [string, string, string] => [
      `peak RSS ${k}`,
      `${v} MB`,
      '',
    ]),
    ...Object.entries(r.idle_cpu_percent).map(([k, v]): [string, string, string] => [
      `idle CPU ${part(k)}`,
      `${v}% of a core`,
      '',
    ]),
    [
      'host',
      `${r.host.cpu_model} (${r.host.cpu_id}) at ${r.host.cpu_mhz} MHz, kernel ${r.host.kernel}; spectre_v2: ${r.host.spectre_v2}`,
      '',
    ],
    [
      'wall clock stepped since the start',
      `${r.wall_clock_step_ms} ms`,
      Math.abs(r.wall_clock_step_ms) > 5 ? 'the hops (Kafka timestamps) are off by this' : '',
    ],
    [
      'ledger (steady run)',
      `${r.ledger.produced} produced, ${r.ledger.delivered} delivered, ${r.ledger.duplicates} dup, ${r.ledger.missing} missing`,
      '',
    ],
  ];
  process.stdout.write(
    `\n${rows.map(([k, v, t]) => `  ${k.padEnd(40)} ${v.padStart(22)}  ${t}`).join('\n')}\n`,
  );
}
