/**
 * The "Latest full run" table of docs/performance.md, rendered from a pipeline results
 * file, so that the table says what the committed JSON says and nothing else:
 *
 *   bash tools/run.sh tools/bench/latest-run-table.ts bench/results/pipeline-<date>.json
 *
 * latest-run-table.spec.ts checks the table in the docs against the file they name.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';

type ByName = Record<string, number>;
interface Hops {
  produce: { p50: number; p99: number };
  ingest: { p50: number; p99: number };
  match: { p50: number; p99: number };
  deliver: { p50: number; p99: number };
}
type Slowest = Array<{ second: number; p99_ms: number }>;
interface Upkeep {
  wal_bytes_per_delivery: number;
  full_page_images_per_delivery: number;
  checkpoints: number;
  autovacuum_runs: number;
  autovacuum_seconds: number;
}
interface Connections {
  opened: number;
  closed: number;
  most_open: number;
}
interface Step {
  rate: number;
  sustained: boolean;
  deliveries_per_s: number;
  backlog_at_end: number;
  cpu_ms_per_delivery: ByName;
  vcpu_json_us: ByName;
}

/** The parts of a pipeline results file (tools/bench/pipeline.ts) the table shows. */
export interface PipelineResults {
  deliveries_per_s: number;
  ratio_to_baseline: number;
  latency_ms: { p50: number; p99: number; p999: number };
  cpu_ms_per_delivery: ByName;
  event_loop_utilisation: ByName;
  waiting_for_core: ByName;
  gc_share: ByName;
  peak_rss_mb: ByName;
  idle_cpu_percent: ByName;
  ledger: { produced: number; delivered: number; duplicates: number; missing: number };
  host: { cpu_model: string; cpu_id: string; cpu_mhz: number; kernel: string; spectre_v2: string };
  wall_clock_step_ms: number;
  scenarios: {
    max_throughput: { steps: Step[]; max_sustained_rate: number };
    after_steps: {
      latency_ms: { p99: number };
      slowest_seconds: Slowest;
      receiver_connections: Connections;
    };
    steady: {
      hops_ms: Hops;
      slowest_seconds: Slowest;
      vcpu_json_us: ByName;
      postgres: Upkeep;
      receiver_connections: Connections;
    };
    isolation: {
      healthy_deliveries_per_s: number;
      healthy_deliveries_per_s_all_healthy_run: number;
      throughput_kept: number;
      healthy_p99_ms: number;
      healthy_p99_ms_all_healthy_run: number;
      p99_ratio: number;
      control: {
        healthy_p99_ms: number;
        p99_ratio: number;
        healthy_hops_ms: Hops;
        healthy_slowest_seconds: Slowest;
        postgres: Upkeep;
        receiver_connections: Connections;
      };
      healthy_hops_ms: Hops;
      healthy_slowest_seconds: Slowest;
      cpu_cores: number;
      cpu_cores_all_healthy_run: number;
      cpu_cores_by_process: ByName;
      cpu_cores_by_process_all_healthy_run: ByName;
      deliverer_per_s: ByName;
      vcpu_json_us: ByName;
      postgres: Upkeep;
      receiver_connections: Connections;
    };
    retries: {
      schedule_s: number[];
      early_count: number;
      late_p50_ms: number;
      late_p99_ms: number;
      late_max_ms: number;
      /** The three latest retries: which of the chain, and when, from the first arrival. */
      latest?: Array<{ retry: number; late_ms: number; at_s: number }>;
    };
  };
  limits: {
    minimal_consume_post_commit_per_s: number;
    minimal_baseline_vcpu_json_us: ByName;
    raw_http_per_s: number;
    raw_consume_per_s: number;
    kafka_hop_latency_ms: { p50: number; p99: number };
    wakeup_quiet_machine: {
      across_cores: { round_trip_us: number };
      one_core: { round_trip_us: number };
      guest_halt_poll_ns: number;
    };
    compute_quiet_machine: Record<string, { json_us: number[]; hmac_us: number[] }>;
  };
  targets: {
    deliveries_per_s: number;
    ratio_to_baseline: number;
    latency_ms_at_1000_per_s: { p50: number; p99: number };
    isolation: { throughput_kept: number; p99_ratio: number };
    retries: { late_max_ms: number };
  };
}

const SERVICES = ['subscription-api', 'event-ingest', 'matcher', 'deliverer'];
/** What the machine does beside the services, as the table names them. */
const REST = ['broker', 'postgres', 'receiver', 'load'];

/** Thousands separated, as the docs write figures (3,007; 0.058 stays as it is). */
const n = (value: number): string => value.toLocaleString('en-US', { maximumFractionDigits: 3 });
const met = (ok: boolean): string => (ok ? '**met**' : '**missed**');
const of = (byName: ByName, names: string[]): string =>
  names.map((name) => n(byName[name]!)).join(', ');
const hops = (h: Hops): string =>
  `${[h.produce, h.ingest, h.match, h.deliver].map((x) => `${n(x.p50)} / ${n(x.p99)}`).join(', ')} ms`;
const slowest = (s: Slowest): string =>
  s.map(({ second, p99_ms }) => `${n(p99_ms)} ms at ${second} s`).join(', ');
const upkeep = (p: Upkeep): string =>
  `${n(p.wal_bytes_per_delivery)} B, ${n(p.full_page_images_per_delivery)}; ${p.checkpoints}; ${p.autovacuum_runs} in ${n(p.autovacuum_seconds)} s`;
const connections = (c: Connections): string => `${n(c.opened)}, ${n(c.closed)}, ${n(c.most_open)}`;
const vcpus = (byCpu: ByName): string =>
  Object.entries(byCpu)
    .map(([cpu, us]) => `${cpu} ${n(us)}`)
    .join(', ');

/** The table's rows: figure, measured, target. */
export function latestRunRows(r: PipelineResults): Array<[string, string, string]> {
  const { steps } = r.scenarios.max_throughput;
  const sustained = [...steps].reverse().find((s) => s.sustained);
  const short = steps.find((s) => !s.sustained);
  const { isolation, steady, after_steps: after, retries } = r.scenarios;
  const { control } = isolation;
  const t = r.targets;
  const cpu = r.cpu_ms_per_delivery;
  const machineMs = cpu.services! + cpu.rest!;
  const idle = SERVICES.map((s) => r.idle_cpu_percent[s]!);
  const shortBy = t.deliveries_per_s / r.deliveries_per_s;
  const latencyOk = {
    p50: r.latency_ms.p50 < t.latency_ms_at_1000_per_s.p50,
    p99: r.latency_ms.p99 < t.latency_ms_at_1000_per_s.p99,
  };
  const limits = r.limits;
  return [
    [
      'maximum sustained rate (steps of 15 s from 500/s up, until one ends more than a second behind)',
      [
        sustained
          ? `${n(sustained.deliveries_per_s)} deliveries/s at ${n(sustained.rate)}/s (${n(sustained.backlog_at_end)} behind at its end)`
          : 'no step sustained',
        short
          ? `${n(short.rate)}/s fell short (${n(short.deliveries_per_s)}/s, ${n(short.backlog_at_end)} behind)`
          : undefined,
      ]
        .filter(Boolean)
        .join('; '),
      shortBy <= 1
        ? `${n(t.deliveries_per_s)}/s: **met**`
        : `${n(t.deliveries_per_s)}/s: **missed, by ${shortBy.toFixed(1)}x**`,
    ],
    [
      '`ratio_to_baseline` (pipeline / minimal consume-POST-commit)',
      `${r.ratio_to_baseline} (${n(r.deliveries_per_s)} / ${n(limits.minimal_consume_post_commit_per_s)})`,
      `${t.ratio_to_baseline}: ${met(r.ratio_to_baseline >= t.ratio_to_baseline)}`,
    ],
    [
      'latency at a steady 1,000 events/s, p50 / p99 / p99.9',
      `${r.latency_ms.p50} / ${r.latency_ms.p99} / ${r.latency_ms.p999} ms`,
      `p50 < ${t.latency_ms_at_1000_per_s.p50} ms: ${met(latencyOk.p50)}; p99 < ${t.latency_ms_at_1000_per_s.p99} ms: ${met(latencyOk.p99)}`,
    ],
    ['of which: load generator, ingest, matcher, deliverer (p50 / p99)', hops(steady.hops_ms), ''],
    ['the three seconds of the 60 with the highest p99', slowest(steady.slowest_seconds), ''],
    [
      'not compared: the minute at 1,000/s just after the steps, p99; its slowest seconds',
      `${n(after.latency_ms.p99)} ms; ${slowest(after.slowest_seconds)}`,
      '',
    ],
    [
      'isolation: healthy throughput kept (10% never answered, 10% after 5 s)',
      `${isolation.throughput_kept.toFixed(2)} (${n(Math.round(isolation.healthy_deliveries_per_s))} vs ${n(Math.round(isolation.healthy_deliveries_per_s_all_healthy_run))}/s)`,
      `≥ ${t.isolation.throughput_kept}: ${met(isolation.throughput_kept >= t.isolation.throughput_kept)}`,
    ],
    [
      'isolation: healthy p99 against the all-healthy run',
      `${isolation.p99_ratio} (${n(isolation.healthy_p99_ms)} vs ${n(isolation.healthy_p99_ms_all_healthy_run)} ms)`,
      `≤ ${t.isolation.p99_ratio}: ${met(isolation.p99_ratio <= t.isolation.p99_ratio)}`,
    ],
    [
      'control: the same ratio between two all-healthy runs in a row (the steady run against the one before it)',
      `${control.p99_ratio} (${n(isolation.healthy_p99_ms_all_healthy_run)} vs ${n(control.healthy_p99_ms)} ms)`,
      '',
    ],
    [
      "control: the healthy deliveries' hops (p50 / p99); the three slowest seconds",
      `${hops(control.healthy_hops_ms)}; ${slowest(control.healthy_slowest_seconds)}`,
      '',
    ],
    [
      "isolation: the healthy deliveries' hops, load generator, ingest, matcher, deliverer (p50 / p99)",
      hops(isolation.healthy_hops_ms),
      '',
    ],
    [
      'isolation: the three seconds of the 60 with the highest healthy p99',
      slowest(isolation.healthy_slowest_seconds),
      '',
    ],
    [
      "isolation: the machine's cores in use, all-healthy run / isolation run",
      `${n(isolation.cpu_cores_all_healthy_run)} / ${n(isolation.cpu_cores)}`,
      '',
    ],
    [
      'of which, all-healthy run / isolation run: API, ingest, matcher, deliverer; broker, Postgres',
      [SERVICES, ['broker', 'postgres']]
        .map((names) =>
          names
            .map(
              (name) =>
                `${n(isolation.cpu_cores_by_process_all_healthy_run[name]!)} / ${n(isolation.cpu_cores_by_process[name]!)}`,
            )
            .join(', '),
        )
        .join('; '),
      '',
    ],
    [
      "isolation: the deliverer's work per second",
      `${n(isolation.deliverer_per_s.succeeded!)} delivered, ${n(isolation.deliverer_per_s.short_circuited!)} short-circuited, ${n(isolation.deliverer_per_s.deferred!)} put off for the slow endpoint`,
      '',
    ],
    [
      'Postgres per run, control / steady / isolation: WAL and full-page images per delivery; checkpoints begun; autovacuum runs',
      [control.postgres, steady.postgres, isolation.postgres].map(upkeep).join(' / '),
      '',
    ],
    [
      "the deliverer's connections to the receiver, after the steps / control / steady / isolation: opened, closed, most open at once",
      [after, control, steady, isolation]
        .map((run) => connections(run.receiver_connections))
        .join(' / '),
      '',
    ],
    [
      `retries (schedule ${retries.schedule_s.map((s) => `${s} s`).join(', ')}): early / late p50, p99, max`,
      `${retries.early_count} early; ${[retries.late_p50_ms, retries.late_p99_ms, retries.late_max_ms].map((ms) => Math.round(ms)).join(', ')} ms late` +
        (retries.latest
          ? `; the latest: ${retries.latest.map((l) => `retry ${l.retry} at ${n(l.at_s)} s, ${n(Math.round(l.late_ms))} ms`).join('; ')}`
          : ''),
      `never early, < ${t.retries.late_max_ms / 1000} s late: ${met(retries.early_count === 0 && retries.late_max_ms < t.retries.late_max_ms)}`,
    ],
    [
      'ledger, steady run',
      `${n(r.ledger.produced)} produced, ${n(r.ledger.delivered)} delivered, ${n(r.ledger.duplicates)} duplicates, ${n(r.ledger.missing)} missing`,
      r.ledger.missing === 0 ? 'nothing lost' : '**missed**: deliveries lost',
    ],
    ['CPU ms per delivery at 1,000/s: API, ingest, matcher, deliverer', of(cpu, SERVICES), ''],
    [
      'CPU ms per delivery at 1,000/s: broker, Postgres, receiver, load',
      `${of(cpu, REST)} (and ${n(cpu.other!)} everything else)`,
      '',
    ],
    [
      "of the machine's CPU per delivery at 1,000/s, in the kernel (`kernel`: system calls, interrupts, softirqs)",
      `${n(cpu.kernel!)} of ${n(Number(machineMs.toFixed(3)))} ms (${(cpu.kernel! / machineMs).toFixed(2)})`,
      '',
    ],
    [
      `CPU ms per delivery in the ${n(sustained?.rate ?? 0)}/s step: the services, everything else`,
      sustained
        ? `${n(sustained.cpu_ms_per_delivery.services!)}, ${n(sustained.cpu_ms_per_delivery.rest!)}`
        : '',
      '',
    ],
    [
      'event-loop utilisation at 1,000/s: API, ingest, matcher, deliverer',
      of(r.event_loop_utilisation, SERVICES),
      '',
    ],
    [
      'main thread waiting for a core at 1,000/s, share of time: API, ingest, matcher, deliverer',
      of(r.waiting_for_core, SERVICES),
      '',
    ],
    [
      'garbage-collection pauses at 1,000/s, share of time: API, ingest, matcher, deliverer',
      of(r.gc_share, SERVICES),
      '',
    ],
    [
      'CPU with nothing to do, share of one core',
      `services ${n(Math.min(...idle))}–${n(Math.max(...idle))}% each, broker ${n(r.idle_cpu_percent.broker!)}%`,
      '',
    ],
    [
      'peak RSS: subscription-api, event-ingest, matcher, deliverer',
      `${of(r.peak_rss_mb, SERVICES)} MB`,
      '',
    ],
    [
      'the limits: minimal consume-POST-commit, undici alone, kafkajs alone consuming',
      `${[limits.minimal_consume_post_commit_per_s, limits.raw_http_per_s, limits.raw_consume_per_s].map(n).join(', ')}/s`,
      '',
    ],
    [
      'one produce-to-consume Kafka hop, p50 / p99',
      `${n(limits.kafka_hop_latency_ms.p50)} / ${n(limits.kafka_hop_latency_ms.p99)} ms`,
      '',
    ],
    [
      'waking a thread, quiet machine (round trip): across the two cores, on one',
      `${n(limits.wakeup_quiet_machine.across_cores.round_trip_us)} µs, ${n(limits.wakeup_quiet_machine.one_core.round_trip_us)} µs (\`guest_halt_poll_ns\` ${limits.wakeup_quiet_machine.guest_halt_poll_ns})`,
      '',
    ],
    [
      'each vCPU, quiet machine (`compute_quiet_machine`, three probes each): a 1 KB event serialised and parsed / its HMAC-SHA256',
      Object.entries(limits.compute_quiet_machine)
        .map(
          ([cpu, probes]) =>
            `${cpu}: ${probes.json_us.map(n).join(', ')} / ${probes.hmac_us.map(n).join(', ')} µs`,
        )
        .join('; '),
      '',
    ],
    [
      "each vCPU's speed through the run, µs per probe event (`vcpu_json_us`): steady run; isolation run; each step",
      [
        vcpus(steady.vcpu_json_us),
        vcpus(isolation.vcpu_json_us),
        ...steps.map((s) => `${n(s.rate)}/s: ${vcpus(s.vcpu_json_us)}`),
      ].join('; '),
      '',
    ],
    [
      "each vCPU's speed while the minimal baseline ran, µs per probe event (`minimal_baseline_vcpu_json_us`)",
      vcpus(limits.minimal_baseline_vcpu_json_us),
      '',
    ],
    [
      'the host (`host`)',
      `${r.host.cpu_model}, ${r.host.cpu_id}, ${n(r.host.cpu_mhz)} MHz, kernel ${r.host.kernel.split('-')[0]}; Spectre v2: ${r.host.spectre_v2}`,
      '',
    ],
    [
      "the wall clock's step during the run (`wall_clock_step_ms`)",
      `${n(r.wall_clock_step_ms)} ms`,
      '',
    ],
  ];
}

/** The table as docs/performance.md holds it, formatted by the project's Prettier. */
export async function latestRunTable(r: PipelineResults): Promise<string> {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const lines = [
    '| figure | measured | target |',
    '| --- | --- | --- |',
    ...latestRunRows(r).map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
  return format(lines.join('\n'), { parser: 'markdown', proseWrap: 'preserve' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write(
      'usage: tools/bench/latest-run-table.ts bench/results/pipeline-<date>.json\n',
    );
    process.exit(2);
  }
  process.stdout.write(
    await latestRunTable(JSON.parse(readFileSync(file, 'utf8')) as PipelineResults),
  );
}
