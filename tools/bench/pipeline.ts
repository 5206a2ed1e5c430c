import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
// kafkajs as the services run it: with their fixes to it (imported first: some must be in
// place before kafkajs loads its producer) and their sockets (no Nagle delay).
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { socketFactory } from '../../libs/platform/src/kafka/socket.ts';
import { build } from '../dev/build.ts';
import { say, stopChild } from '../dev/processes.ts';
import { SERVICES, startService, startServices, type ServiceName } from '../dev/services.ts';
import { startStack } from '../dev/stack.ts';
import { freePort } from '../infra/kafka.ts';
import { TOPICS } from '../../libs/contracts/src/topics/topics.ts';
import { now, wallClockStepMs } from './clock.ts';
import { hopLatencies, type HopLatencies } from './hops.ts';
import type { Arrival } from './receiver.ts';
import { hostFacts, type HostFacts } from './host.ts';
import { optionValue } from './options.ts';
import { measureWakeup } from './wakeup.ts';
import { percentile } from './stats.ts';
import { ROOT } from '../infra/system.ts';

/**
 * `npm run bench:pipeline`: the whole pipeline (four services, broker, Postgres) under an
 * open-model load, against the limits of this machine measured in the same run.
 * `--smoke` runs a ~20 s version of every scenario (CI keeps the harness working with it).
 *
 * Events are produced to `mail-events` at a fixed rate, each stamped with its scheduled
 * produce time t0; a receiver in its own process records arrival t3. Latency is t3 - t0.
 * Scenarios: 1. the maximum sustainable rate (rate stepped up until the backlog at the
 * end of a step exceeds a second of traffic); 2. latency at a steady rate; 3. isolation:
 * 10% of the traffic to endpoints that never answer and 10% to ones that answer after
 * 5 s, with the default retry schedule; 4. retry precision with a short schedule (the
 * deliverer restarted with it); with `--backlog=N`, also the deliverer alone working off N
 * queued jobs. Then the limits: a minimal consume-POST-commit script,
 * raw HTTP, raw consume; and, before anything starts, what it costs this machine to wake
 * a sleeping thread (wakeup.ts).
 *
 * Prints a table and writes bench/results/pipeline-<date>.json (pipeline-smoke.tmp.json
 * for the smoke run).
 */

const ARGS = process.argv.slice(2);
const SMOKE = ARGS.includes('--smoke');
/**
 * `--profile`: CPU profiles of the services over the steady scenario, into tmp/profiles;
 * `--profile=isolation` over the isolation scenario instead; `--profile=backlog` the
 * deliverer's alone while it works off the backlog (with `--backlog=N`).
 */
const PROFILE_ARG = ARGS.find((arg) => arg === '--profile' || arg.startsWith('--profile='));
const PROFILED = PROFILE_ARG && (PROFILE_ARG.split('=')[1] ?? 'steady');
if (PROFILED !== undefined && !['steady', 'isolation', 'backlog'].includes(PROFILED))
  throw new Error(`--profile takes steady, isolation or backlog, not ${PROFILED}`);
const PROFILE = PROFILED !== undefined;
/** `--steps=1500,2000`: only these rates in the throughput scenario (to look at one closely). */
const STEPS = optionValue(ARGS, 'steps')?.split(',').map(Number);
/**
 * `--backlog=60000`: also time the deliverer alone working off that many jobs, queued while
 * it was stopped (after the throughput steps): how fast it catches up, and what a job costs
 * it when every job it holds waits behind others, without the other services' noise. The
 * smoke run works off 1,000, so that the scenario keeps working.
 */
const BACKLOG = SMOKE ? 1_000 : Number(optionValue(ARGS, 'backlog') ?? 0);
if (!Number.isInteger(BACKLOG) || BACKLOG < 0)
  throw new Error(`--backlog takes a whole number of jobs, not ${BACKLOG}`);
if (PROFILED === 'backlog' && BACKLOG === 0)
  throw new Error('--profile=backlog needs a backlog to profile: add --backlog=60000');
/** The rate the backlog is produced at: what ingest and matcher sustain on their own here. */
const BACKLOG_RATE = 3_000;
/** The deliverer's kinds of work, each counted from zero (a counter appears on first use). */
const NO_WORK = { succeeded: 0, failed: 0, short_circuited: 0, skipped: 0, deferred: 0 };
/** `--steady=200`: the rate of the steady, isolation and profile scenarios (1,000 by default). */
const STEADY_RATE = Number(optionValue(ARGS, 'steady') ?? 1_000);
for (const rate of [...(STEPS ?? []), STEADY_RATE]) {
  if (!Number.isInteger(rate) || rate <= 0)
    throw new Error(`--steps and --steady take rates in whole events per second, not ${rate}`);
}
const PROFILE_DIR = `${ROOT}tmp/profiles`;
const PLAN = SMOKE
  ? {
      organizations: 2,
      steps: [500],
      stepSeconds: 4,
      idleSeconds: 2,
      steadyRate: 500,
      steadySeconds: 3,
      baselineSeconds: 2,
    }
  : {
      organizations: 10,
      steps: STEPS ?? [500, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000],
      stepSeconds: 15,
      idleSeconds: 10,
      steadyRate: STEADY_RATE,
      steadySeconds: 30,
      baselineSeconds: 10,
    };
/**
 * Warm-up rounds, until the broker's JIT compilers use less than `settledJitCores` (the
 * cost they keep paying for ever, as new paths get hot); the method excludes warm-up.
 */
const WARMUP = SMOKE
  ? { rate: 200, roundSeconds: 3, maxRounds: 1, settledJitCores: Infinity }
  : { rate: 1_000, roundSeconds: 15, maxRounds: 8, settledJitCores: 0.05 };
/**
 * The retry scenario's schedule, in seconds. Only that scenario runs with it: the others
 * run with the deliverer's default (1m, 5m, 30m, 2h, 12h), as production does, so that in
 * the isolation scenario a bad endpoint's jobs come back minutes later, not every second
 * or two, several times over within its 30 s.
 */
const RETRY_SCHEDULE = [1, 2];
const HEALTHY_PER_ORG = 10;
/**
 * Endpoints that fail twice, then succeed; each gets one event in the retry scenario. Its
 * three requests stay under the breakers' volume threshold (5), so that what is measured
 * is the retry schedule, not a breaker that opened (which it would, at two failures in
 * three) and short-circuited the retries.
 */
const FLAKY_ENDPOINTS = 40;
const EVENT_BYTES = 1_024;
/** Steps are judged after this much of them (the pipeline settling to the new rate). */
const SETTLE_SECONDS = 2;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
/** The machine's cores in use, from a reading split into services and the rest. */
const machineCores = (cores: Record<string, number>) =>
  round((cores['services'] ?? NaN) + (cores['rest'] ?? NaN), 2);

/** The receiver, in its own process. */
class Receiver {
  private readonly child: ChildProcess;
  readonly url: string;

  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
  }

  static async start(): Promise<Receiver> {
    // Forked tools take this process's Node flags (tools/run.sh's).
    const child = fork(`${ROOT}tools/bench/receiver.ts`, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve) =>
      child.once('message', (m: { port: number }) => resolve(m.port)),
    );
    return new Receiver(child, `http://127.0.0.1:${port}`);
  }

  private ask<T>(message: object, field: string): Promise<T> {
    return new Promise((resolve) => {
      const listen = (reply: Record<string, unknown>) => {
        if (!(field in reply)) return;
        this.child.off('message', listen);
        resolve(reply[field] as T);
      };
      this.child.on('message', listen);
      this.child.send(message);
    });
  }

  /** Requests recorded in this window, to paths starting with `prefix` if given. */
  count(prefix?: string): Promise<number> {
    return this.ask({ count: true, prefix }, 'count');
  }

  /** Everything that arrived since the last call. */
  take(): Promise<Arrival[]> {
    return this.ask({ take: true }, 'arrivals');
  }

  get pid(): number {
    return this.child.pid!;
  }

  stop(): void {
    this.child.disconnect();
  }
}

/**
 * A `/proc/.../stat` line: its command name, and the fields after it (`[11]` and `[12]` are
 * utime and stime, `[13]` and `[14]` those of exited children, in clock ticks, 100 per
 * second on Linux). The name is in parentheses and may hold spaces.
 */
function parseStat(stat: string): { comm: string; fields: string[] } {
  const close = stat.lastIndexOf(')');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    fields: stat.slice(close + 2).split(' '),
  };
}

/** CPU-seconds used and peak resident memory, per service, from /proc. */
function processStats(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const { fields } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  return { cpuSeconds, peakRssMb };
}

/**
 * Seconds the process's main thread has waited, runnable, for a core (the second field of
 * `/proc/<pid>/task/<pid>/schedstat`, in ns). A busy event loop is either running or
 * waiting for a core; event-loop utilisation cannot tell the two apart, this can.
 */
function mainThreadWaitSeconds(pid: number): number {
  const [, waitingNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ');
  return Number(waitingNs) / 1e9;
}

/**
 * CPU-seconds used so far by every process whose command name is `comm` (the broker is
 * `java`; Postgres runs a process per connection), with their children that exited (a
 * closed connection's backend counts in the postmaster's `cutime`).
 */
function cpuSecondsOf(comm: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat.comm !== comm) continue;
      const { fields } = stat;
      total +=
        (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
    } catch {
      // gone between the listing and the read
    }
  }
  return total;
}

/**
 * CPU-seconds the JVMs' JIT compiler threads (the broker's C1 and C2) have used so far:
 * how far the broker is from its steady state, which takes it minutes on this machine.
 */
function jitCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'java') continue;
      for (const task of readdirSync(`/proc/${entry}/task`)) {
        const { comm, fields } = parseStat(
          readFileSync(`/proc/${entry}/task/${task}/stat`, 'utf8'),
        );
        if (!/^C\d CompilerThre/.test(comm)) continue;
        total += (Number(fields[11]) + Number(fields[12])) / 100;
      }
    } catch {
      // gone between the listing and the read
    }
  }
  return total;
}

/** CPU-seconds the whole machine has used (every process: broker, Postgres, receiver...). */
function machineCpuSeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal: all but idle and iowait.
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100;
}

interface Target {
  organizationId: string;
  domain: string;
}

/**
 * How long the load generator gathers due events into one produce request: as a Java
 * producer does by default since Kafka 4.0 (linger.ms 5, KIP-1030). The wait counts in
 * the measured latency, since t0 is the time an event was due, not the time it was sent.
 */
const LINGER_MS = 5;

/** Open-model load: events due at a fixed rate, produced in small batches, never waited for. */
class LoadGenerator {
  private seq = 0;
  private readonly pad = 'x'.repeat(EVENT_BYTES - 420);
  private readonly producer: Producer;

  constructor(producer: Producer) {
    this.producer = producer;
  }

  get next(): number {
    return this.seq;
  }

  async run(rate: number, seconds: number, target: (seq: number) => Target): Promise<void> {
    const total = Math.round(rate * seconds);
    const first = this.seq;
    const start = now();
    const sends = new Set<Promise<unknown>>();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - start) / 1_000) * rate) + 1);
      if (due > sent) {
        const messages = [];
        for (; sent < due; sent++) {
          const seq = first + sent;
          const t0 = start + (sent / rate) * 1_000;
          messages.push(this.event(seq, t0, target(seq)));
        }
        const send = this.producer.send({ topic: 'mail-events', messages });
        sends.add(send);
        void send.finally(() => sends.delete(send));
        // Beyond a few sends in flight the broker is the bottleneck: wait, the events are late.
        if (sends.size >= 16) await Promise.race(sends);
      }
      await sleep(LINGER_MS);
    }
    await Promise.all(sends);
    this.seq = first + total;
  }

  private event(seq: number, t0: number, target: Target): { key: string; value: string } {
    const id = `evt_bench_${seq}`;
    return {
      key: id,
      value: JSON.stringify({
        id,
        type: 'message.delivered',
        organization_id: target.organizationId,
        occurred_at: new Date(t0).toISOString(),
        data: {
          message_id: `<bench-${seq}@${target.domain}>`,
          from: `news@${target.domain}`,
          to: `reader${seq % 1000}@example.org`,
          subject: 'Your weekly digest',
          bench_seq: seq,
          bench_t0: round(t0, 3),
          pad: this.pad,
        },
      }),
    };
  }
}

interface Step {
  rate: number;
  sustained: boolean;
  deliveries_per_s: number;
  backlog_at_end: number;
  latency_ms: Record<string, number>;
  cpu_seconds_per_delivery: number;
  cpu_ms_per_delivery: Record<string, number>;
  event_loop_utilisation: Record<string, number>;
  /** Seconds the main thread waited, runnable, for a core per second of load, per service. */
  waiting_for_core: Record<string, number>;
  /** Seconds in garbage-collection pauses per second of load, per service. */
  gc_share: Record<string, number>;
  /** The deliverer's attempts by outcome, and jobs put off unattempted, per second of load. */
  deliverer_per_s: Record<string, number>;
  ledger: Ledger;
}

interface Window {
  first: number;
  last: number;
  startedAt: number;
  endedAt: number;
}

interface Ledger {
  produced: number;
  delivered: number;
  duplicates: number;
  missing: number;
}

/** The first successful arrival of each expected event in `window`, by sequence number. */
function firstArrivals(
  arrivals: Arrival[],
  window: Window,
  expected: (seq: number) => boolean,
): Map<number, { t0: number; t3: number }> {
  const times = new Map<number, { t0: number; t3: number }>();
  for (const a of arrivals) {
    // A job put off in an earlier scenario can arrive during this one: it is not this one's.
    if (a.seq < window.first || a.seq >= window.last) continue;
    if (a.status === 200 && expected(a.seq) && !times.has(a.seq)) times.set(a.seq, a);
  }
  return times;
}

type SlowestSeconds = Array<{ second: number; p99_ms: number }>;

/**
 * The three seconds of a run (counted from its start, by scheduled time) whose deliveries
 * had the highest p99, with that p99: whether a tail is spread or comes at one moment.
 */
function slowestSeconds(
  times: Map<number, { t0: number; t3: number }>,
  startedAt: number,
): SlowestSeconds {
  const bySecond = new Map<number, number[]>();
  for (const { t0, t3 } of times.values()) {
    const second = Math.floor((t0 - startedAt) / 1_000);
    const latencies = bySecond.get(second) ?? [];
    latencies.push(t3 - t0);
    bySecond.set(second, latencies);
  }
  return [...bySecond]
    .map(([second, latencies]) => ({
      second,
      p99_ms: round(
        percentile(
          latencies.sort((x, y) => x - y),
          99,
        ),
      ),
    }))
    .sort((a, b) => b.p99_ms - a.p99_ms)
    .slice(0, 3);
}

function formatSlowest(seconds: SlowestSeconds): string {
  return seconds.map(({ second, p99_ms }) => `${p99_ms} ms at ${second} s`).join(', ');
}

/** Latency and ledger of the expected events in `window`. */
function summarise(arrivals: Arrival[], window: Window, expected: (seq: number) => boolean) {
  const first = new Map<number, Arrival>();
  let duplicates = 0;
  for (const a of arrivals) {
    if (a.seq < window.first || a.seq >= window.last || !expected(a.seq)) continue;
    if (a.status !== 200) continue;
    if (first.has(a.seq)) duplicates++;
    else first.set(a.seq, a);
  }
  let produced = 0;
  for (let seq = window.first; seq < window.last; seq++) if (expected(seq)) produced++;
  const latencies = [...first.values()].map((a) => a.t3 - a.t0).sort((x, y) => x - y);
  const judgedFrom = window.startedAt + SETTLE_SECONDS * 1_000;
  const inWindow = [...first.values()].filter(
    (a) => a.t3 >= judgedFrom && a.t3 <= window.endedAt,
  ).length;
  const ledger: Ledger = {
    produced,
    delivered: first.size,
    duplicates,
    missing: produced - first.size,
  };
  return {
    ledger,
    deliveriesPerS: inWindow / ((window.endedAt - judgedFrom) / 1_000),
    /** Still undelivered when the load stopped. */
    backlogAtEnd: produced - [...first.values()].filter((a) => a.t3 <= window.endedAt).length,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      p999: round(percentile(latencies, 99.9)),
      max: round(latencies.at(-1) ?? NaN),
    },
  };
}

/**
 * The broker's side of `--profile`: a Java Flight Recorder recording (sampled stacks, as
 * `jfr print --events jdk.ExecutionSample` or JDK Mission Control show them) over the same
 * window, into `tmp/profiles/broker.jfr`. Our broker is the JVM started with our dataDir.
 */
function brokerRecording(dataDir: string, start: boolean): void {
  const jvms = spawnSync('jcmd', ['-l'], { encoding: 'utf8' }).stdout ?? '';
  const pid = jvms
    .split('\n')
    .find((line) => line.includes('kafka.Kafka') && line.includes(dataDir))
    ?.split(' ')[0];
  if (!pid) return say('no broker JVM found for its flight recording');
  const command = start
    ? ['JFR.start', 'name=bench', 'settings=profile']
    : ['JFR.stop', 'name=bench', `filename=${PROFILE_DIR}/broker.jfr`];
  const result = spawnSync('jcmd', [pid, ...command], { encoding: 'utf8' });
  if (result.status !== 0) say(`broker flight recording: ${result.stdout}${result.stderr}`);
}

async function main(): Promise<void> {
  build();
  // Before anything else runs: with both cores idle, a wake-up costs what it costs when
  // a process sleeps between events (with the machine busy, a vCPU is rarely halted).
  const wakeup = measureWakeup();
  const dataDir = `${ROOT}.data/bench-pipeline-${process.pid}`;
  const logDir = `${dataDir}/logs`;
  mkdirSync(logDir, { recursive: true });
  if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });
  const stack = await startStack({
    dataDir,
    kafkaPort: await freePort(),
    kafkaControllerPort: await freePort(),
    postgresPort: await freePort(),
  });
  const receiver = await Receiver.start();
  const kafka = new Kafka({
    clientId: 'bench-pipeline',
    socketFactory,
    brokers: stack.env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  let services: ChildProcess[] = [];
  try {
    const adminToken = randomBytes(32).toString('base64url');
    const ports = Object.fromEntries(
      await Promise.all(SERVICES.map(async (s) => [s.name, await freePort()] as const)),
    ) as Record<ServiceName, number>;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stack.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      ADMIN_TOKEN: adminToken,
      SECRET_ENCRYPTION_KEY: `bench:${randomBytes(32).toString('base64')}`,
      ALLOW_HTTP_ENDPOINTS: 'true',
      ENDPOINT_ALLOWED_NETWORKS: '127.0.0.1/32',
      // Isolation is judged without the help of auto-pause (the endpoints that never answer
      // would be paused after ten timeouts).
      AUTO_PAUSE_AFTER_FAILURES: '1000000',
      KAFKA_TOPIC_PARTITIONS: '6',
      GRPC_PORT: String(await freePort()),
      ...(PROFILE
        ? {
            NODE_OPTIONS: `--import=${ROOT}tools/bench/profile-hook.ts --disable-warning=ExperimentalWarning`,
            HOOKPOST_PROFILE: PROFILE_DIR,
          }
        : {}),
    };
    const migrate = spawnSync(process.execPath, ['apps/subscription-api/dist/migrate.js'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
    services = await startServices({ env, logDir, ports });
    const delivererIndex = SERVICES.findIndex((s) => s.name === 'deliverer');
    const pids = Object.fromEntries(SERVICES.map((s, i) => [s.name, services[i]!.pid!])) as Record<
      ServiceName,
      number
    >;
    /**
     * CPU-seconds so far: each service's, and the rest of the machine's, split into the
     * broker, Postgres, the receiver, this process (the load generator) and everything else.
     */
    const cpu = (): Record<string, number> => {
      const byService = Object.fromEntries(
        Object.entries(pids).map(([name, pid]) => [name, processStats(pid).cpuSeconds]),
      );
      const services = Object.values(byService).reduce((sum, x) => sum + x, 0);
      const usage = process.cpuUsage();
      const rest = {
        broker: cpuSecondsOf('java'),
        postgres: cpuSecondsOf('postgres'),
        receiver: processStats(receiver.pid).cpuSeconds,
        load: (usage.user + usage.system) / 1e6,
      };
      const machine = machineCpuSeconds();
      const other = machine - services - Object.values(rest).reduce((sum, x) => sum + x, 0);
      return { ...byService, services, rest: machine - services, ...rest, other };
    };
    /**
     * Per service, seconds so far with its event loop busy, and in garbage-collection pauses
     * (prom-client's default metrics; the pauses of every kind of collection summed).
     */
    const serviceClocks = async () => {
      const readings = await Promise.all(
        SERVICES.map(async ({ name }) => {
          const text = await (await fetch(`http://127.0.0.1:${ports[name]}/metrics`)).text();
          const loop = /^hookpost_event_loop_active_seconds_total (\S+)$/m.exec(text)?.[1];
          if (loop === undefined) throw new Error(`${name} reports no event-loop metric`);
          const gc = [
            ...text.matchAll(/^hookpost_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm),
          ];
          if (gc.length === 0) throw new Error(`${name} reports no garbage-collection metric`);
          // The deliverer's work by kind: attempts by outcome, and jobs put off unattempted.
          const work: Record<string, number> = {};
          for (const m of text.matchAll(
            /^hookpost_delivery_attempts_total\{outcome="([a-z_]+)"\} (\S+)$/gm,
          ))
            work[m[1]!] = Number(m[2]);
          const deferred = /^hookpost_delivery_deferrals_total (\S+)$/m.exec(text)?.[1];
          if (deferred !== undefined) work.deferred = Number(deferred);
          return {
            name,
            loop: Number(loop),
            gc: gc.reduce((sum, m) => sum + Number(m[1]), 0),
            waiting: mainThreadWaitSeconds(pids[name]),
            work,
          };
        }),
      );
      return {
        loop: Object.fromEntries(readings.map((r) => [r.name, r.loop])),
        gc: Object.fromEntries(readings.map((r) => [r.name, r.gc])),
        waiting: Object.fromEntries(readings.map((r) => [r.name, r.waiting])),
        work: Object.assign({}, ...readings.map((r) => r.work)) as Record<string, number>,
      };
    };
    /** Per key, the growth between two readings divided by `per`, to `digits` places. */
    const growth = (
      before: Record<string, number>,
      after: Record<string, number>,
      per: number,
      digits: number,
    ) =>
      Object.fromEntries(
        Object.keys(after).map((k) => [k, round((after[k]! - before[k]!) / per, digits)]),
      );

    // Tenants: each organisation has healthy endpoints, one scoped to each of its sending
    // domains so that every event matches exactly one subscription; and one endpoint each
    // that never answers, answers after 5 s, or fails twice before it succeeds.
    const api = `http://127.0.0.1:${ports['subscription-api']}`;
    const call = async (path: string, token: string, body?: unknown) => {
      const response = await fetch(`${api}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await response.json()) as Record<string, unknown>;
      if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    };
    type Kind = 'ok' | 'hang' | 'slow' | 'flaky';
    const targets: Record<Kind, Target[]> = { ok: [], hang: [], slow: [], flaky: [] };
    /** The endpoints that never answer or answer late, paused after the isolation scenario. */
    const badEndpoints: Array<{ id: string; key: string }> = [];
    for (let o = 0; o < PLAN.organizations; o++) {
      const domainOf = (name: string) => `${name}.o${o}.bench.example`;
      const names = [
        ...Array.from({ length: HEALTHY_PER_ORG }, (_, i) => ({ kind: 'ok' as Kind, i })),
        { kind: 'hang' as Kind, i: 0 },
        { kind: 'slow' as Kind, i: 0 },
        ...Array.from({ length: Math.ceil(FLAKY_ENDPOINTS / PLAN.organizations) }, (_, i) => ({
          kind: 'flaky' as Kind,
          i,
        })),
      ];
      const org = await call('/v1/organizations', adminToken, {
        name: `Bench ${o}`,
        domains: names.map((n) => domainOf(`${n.kind}${n.i}`)),
      });
      const organizationId = org.id as string;
      const key = await call(`/v1/organizations/${organizationId}/api-keys`, adminToken, {});
      for (const { kind, i } of names) {
        const domain = domainOf(`${kind}${i}`);
        const subscription = await call('/v1/webhooks', key.key as string, {
          url: `${receiver.url}/${kind}/${o}/${i}`,
          events: ['message.delivered'],
          scope: { domains: [domain], mailboxes: [] },
        });
        if (kind === 'hang' || kind === 'slow')
          badEndpoints.push({ id: subscription.id as string, key: key.key as string });
        targets[kind].push({ organizationId, domain });
      }
    }
    // Subscription changes reach the matcher and deliverer within a second. Then what each
    // process uses with nothing to do (polling, timers), as a share of one core.
    await sleep(2_000);
    const idleBefore = cpu();
    await sleep(PLAN.idleSeconds * 1_000);
    const idleAfter = cpu();
    const idleCpuPercent = Object.fromEntries(
      Object.keys(idleAfter).map((k) => [
        k,
        round(((idleAfter[k]! - idleBefore[k]!) / PLAN.idleSeconds) * 100),
      ]),
    );
    await producer.connect();
    const load = new LoadGenerator(producer);
    const healthy = (seq: number) => targets.ok[seq % targets.ok.length]!;

    /**
     * Waits until `expected` requests (to paths starting with `prefix`) arrived in this
     * window, or none arrived for `idleMs`. A job the deliverer put off while it was behind
     * comes back after the default schedule's first delay (1 min): a scenario is not over
     * until those have come back too.
     */
    const drain = async (expected: number, prefix?: string, idleMs = 70_000) => {
      let last = -1;
      let lastChange = Date.now();
      for (;;) {
        const count = await receiver.count(prefix);
        if (count >= expected) return;
        if (count !== last) {
          last = count;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > idleMs) return;
        await sleep(200);
      }
    };

    const runScenario = async (
      rate: number,
      seconds: number,
      route: (seq: number) => Target,
      expectedRequests: (produced: number) => number,
      prefix?: string,
    ) => {
      await receiver.take();
      const cpuBefore = cpu();
      const clocksBefore = await serviceClocks();
      const first = load.next;
      const startedAt = now();
      await load.run(rate, seconds, route);
      const endedAt = now();
      const cpuAtEnd = cpu();
      // Over the load alone: the drain that follows would dilute it with idle time.
      const clocksAfter = await serviceClocks();
      const loadSeconds = (endedAt - startedAt) / 1_000;
      const loops = growth(clocksBefore.loop, clocksAfter.loop, loadSeconds, 2);
      const gcPauses = growth(clocksBefore.gc, clocksAfter.gc, loadSeconds, 3);
      const waiting = growth(clocksBefore.waiting, clocksAfter.waiting, loadSeconds, 2);
      const work = growth(
        { ...NO_WORK, ...clocksBefore.work },
        { ...NO_WORK, ...clocksAfter.work },
        loadSeconds,
        0,
      );
      await drain(expectedRequests(load.next - first), prefix);
      const arrivals = await receiver.take();
      const cpuAfter = cpu();
      const delivered = new Set(arrivals.filter((a) => a.status === 200).map((a) => a.seq)).size;
      return {
        window: { first, last: load.next, startedAt, endedAt },
        arrivals,
        cpuSeconds: cpuAfter.services! - cpuBefore.services!,
        // CPU-seconds per thousand deliveries: milliseconds per delivery.
        cpuMsPerDelivery: growth(cpuBefore, cpuAfter, delivered / 1_000, 3),
        // Cores in use while the load ran (the machine's: services plus rest).
        cpuCores: growth(cpuBefore, cpuAtEnd, (endedAt - startedAt) / 1_000, 2),
        eventLoopUtilisation: loops,
        waitingForCore: waiting,
        gcShare: gcPauses,
        delivererPerS: work,
      };
    };

    // Until the broker's JIT has settled: a cold broker halves a step's rate, and on this
    // machine its compiler threads take minutes, at up to half a core, to get there.
    const warmup = { seconds: 0, jitCores: NaN };
    for (let i = 0; i < WARMUP.maxRounds; i++) {
      say(`warming up: ${WARMUP.rate} events/s for ${WARMUP.roundSeconds} s`);
      const jitBefore = jitCpuSeconds();
      const started = now();
      await runScenario(WARMUP.rate, WARMUP.roundSeconds, healthy, (n) => n);
      const seconds = (now() - started) / 1_000;
      warmup.seconds = round(warmup.seconds + seconds);
      warmup.jitCores = round((jitCpuSeconds() - jitBefore) / seconds, 2);
      say(`  the broker's JIT compilers used ${warmup.jitCores} cores`);
      if (warmup.jitCores < WARMUP.settledJitCores) break;
    }

    // 1. Maximum sustainable throughput.
    const steps: Step[] = [];
    let best: Step | undefined;
    for (const rate of PLAN.steps) {
      say(`step: ${rate} events/s for ${PLAN.stepSeconds} s`);
      const run = await runScenario(rate, PLAN.stepSeconds, healthy, (n) => n);
      const summary = summarise(run.arrivals, run.window, () => true);
      const sustained = summary.backlogAtEnd <= rate && summary.ledger.missing === 0;
      const step = {
        rate,
        sustained,
        deliveries_per_s: Math.round(summary.deliveriesPerS),
        backlog_at_end: summary.backlogAtEnd,
        latency_ms: summary.latencyMs,
        cpu_seconds_per_delivery: round(run.cpuSeconds / summary.ledger.delivered, 6),
        cpu_ms_per_delivery: run.cpuMsPerDelivery,
        event_loop_utilisation: run.eventLoopUtilisation,
        waiting_for_core: run.waitingForCore,
        gc_share: run.gcShare,
        deliverer_per_s: run.delivererPerS,
        ledger: summary.ledger,
      };
      steps.push(step);
      say(
        `  ${step.deliveries_per_s} deliveries/s, backlog ${step.backlog_at_end}, p99 ${step.latency_ms.p99} ms, ${step.deliverer_per_s.deferred} put off/s; the deliverer's event loop busy ${step.event_loop_utilisation.deliverer}, waiting for a core ${step.waiting_for_core.deliverer}`,
      );
      if (!sustained) break;
      best = step;
    }

    // 1b. The deliverer alone, catching up with a backlog (`--backlog`).
    let backlog: Record<string, number> | undefined;
    // The deliverer's peak resident memory over the processes it ran as, so far.
    let delivererPeakRssMb = 0;
    if (BACKLOG > 0) {
      say(`backlog: ${BACKLOG} jobs queued with the deliverer stopped, then worked off`);
      await receiver.take();
      delivererPeakRssMb = processStats(pids.deliverer).peakRssMb;
      await stopChild(services[delivererIndex]!);
      const admin = kafka.admin();
      await admin.connect();
      try {
        const jobsQueued = async () =>
          (await admin.fetchTopicOffsets(TOPICS.deliveryJobs)).reduce(
            (n, p) => n + Number(p.high),
            0,
          );
        const queuedBefore = await jobsQueued();
        await load.run(BACKLOG_RATE, BACKLOG / BACKLOG_RATE, healthy);
        const queueDeadline = Date.now() + 120_000;
        while ((await jobsQueued()) - queuedBefore < BACKLOG) {
          if (Date.now() > queueDeadline)
            throw new Error('backlog: the matcher did not queue every job');
          await sleep(200);
        }
      } finally {
        await admin.disconnect();
      }
      services[delivererIndex] = await startService('deliverer', { env, logDir, ports });
      pids.deliverer = services[delivererIndex]!.pid!;
      // Timed from the first delivery: the process's start and its joining the group are not
      // what is measured. Polled every 20 ms.
      const reading = async () => ({
        t: now(),
        delivered: await receiver.count(),
        cpu: cpu(),
        clocks: await serviceClocks(),
      });
      while ((await receiver.count()) === 0) await sleep(20);
      const first = await reading();
      if (PROFILED === 'backlog') process.kill(pids.deliverer, 'SIGUSR2');
      const workDeadline = Date.now() + 300_000;
      while ((await receiver.count()) < BACKLOG && Date.now() < workDeadline) await sleep(20);
      const last = await reading();
      if (PROFILED === 'backlog') {
        process.kill(pids.deliverer, 'SIGUSR2');
        say(`CPU profile of the deliverer working off the backlog in ${PROFILE_DIR}`);
      }
      if (last.delivered < BACKLOG)
        throw new Error(`backlog: ${last.delivered} of ${BACKLOG} jobs delivered in 5 min`);
      const seconds = (last.t - first.t) / 1_000;
      const count = last.delivered - first.delivered;
      const cores = growth(first.cpu, last.cpu, seconds, 2);
      backlog = {
        jobs: BACKLOG,
        delivered: last.delivered,
        deliveries_per_s: Math.round(count / seconds),
        deliverer_cpu_ms_per_delivery: growth(first.cpu, last.cpu, count / 1_000, 3).deliverer!,
        deliverer_cores: cores.deliverer!,
        deliverer_event_loop_utilisation: growth(first.clocks.loop, last.clocks.loop, seconds, 2)
          .deliverer!,
        deliverer_waiting_for_core: growth(first.clocks.waiting, last.clocks.waiting, seconds, 2)
          .deliverer!,
        deliverer_gc_share: growth(first.clocks.gc, last.clocks.gc, seconds, 3).deliverer!,
        // Jobs put off unattempted (ADR 0010): each comes back a retry delay (1 min) later.
        put_off: last.clocks.work.deferred ?? 0,
        // The whole machine: the services and the rest.
        machine_cores: round(cores.services! + cores.rest!, 2),
      };
      say(
        `  ${backlog.deliveries_per_s} deliveries/s, deliverer ${backlog.deliverer_cpu_ms_per_delivery} ms of CPU per delivery, ${backlog.deliverer_cores} cores (machine ${backlog.machine_cores}), its main thread waiting for a core ${backlog.deliverer_waiting_for_core} of the time, ${backlog.put_off} put off`,
      );
      await receiver.take();
    }

    // 2. Latency at a steady rate (all endpoints healthy).
    say(`steady: ${PLAN.steadyRate} events/s for ${PLAN.steadySeconds} s`);
    let brokerProfiling = false;
    const toggleProfiles = () => {
      if (!PROFILE) return;
      for (const pid of Object.values(pids)) process.kill(pid, 'SIGUSR2');
      brokerProfiling = !brokerProfiling;
      brokerRecording(dataDir, brokerProfiling);
    };
    if (PROFILED === 'steady') toggleProfiles();
    const steadyRun = await runScenario(PLAN.steadyRate, PLAN.steadySeconds, healthy, (n) => n);
    if (PROFILED === 'steady') {
      toggleProfiles();
      say(`CPU profiles of the steady run in ${PROFILE_DIR}`);
    }
    const steady = summarise(steadyRun.arrivals, steadyRun.window, () => true);
    const steadyTimes = firstArrivals(steadyRun.arrivals, steadyRun.window, () => true);
    const steadyHops = await hopLatencies(stack.env.KAFKA_BROKERS, steadyRun.window, steadyTimes);

    // 3. Isolation: one event in ten to an endpoint that never answers, one in ten to one
    // that answers after 5 s; the rest as in 2.
    say(
      `isolation: ${PLAN.steadyRate} events/s, 10% never answered, 10% answered after 5 s (default retry schedule)`,
    );
    const isolationRoute = (seq: number) =>
      seq % 10 === 0
        ? targets.hang[seq % targets.hang.length]!
        : seq % 10 === 1
          ? targets.slow[seq % targets.slow.length]!
          : healthy(seq);
    const isHealthy = (seq: number) => seq % 10 >= 2;
    if (PROFILED === 'isolation') toggleProfiles();
    const isolationRun = await runScenario(
      PLAN.steadyRate,
      PLAN.steadySeconds,
      isolationRoute,
      // The healthy ones; the slow endpoints' requests trickle in long after.
      (n) => Math.round(n * 0.8),
      '/ok/',
    );
    if (PROFILED === 'isolation') {
      toggleProfiles();
      say(`CPU profiles of the isolation run in ${PROFILE_DIR}`);
    }
    const isolation = summarise(isolationRun.arrivals, isolationRun.window, isHealthy);
    const steadyHealthy = summarise(steadyRun.arrivals, steadyRun.window, isHealthy);
    // Which hop the healthy deliveries' extra latency comes from, and when in the run.
    const isolationTimes = firstArrivals(isolationRun.arrivals, isolationRun.window, isHealthy);
    const isolationHops = await hopLatencies(
      stack.env.KAFKA_BROKERS,
      isolationRun.window,
      isolationTimes,
    );

    // The bad endpoints are paused, and the deliverer restarted with the retry scenario's
    // short schedule. The jobs it still held for them come back to the new process and are
    // skipped, not sent; those it put off wait on the default schedule's delay topics,
    // which the new process does not read: none of it weighs on the scenarios that follow.
    for (const { id, key } of badEndpoints) await call(`/v1/webhooks/${id}/pause`, key, {});
    await sleep(2_000);
    delivererPeakRssMb = Math.max(delivererPeakRssMb, processStats(pids.deliverer).peakRssMb);
    await stopChild(services[delivererIndex]!);
    services[delivererIndex] = await startService('deliverer', {
      env: { ...env, RETRY_SCHEDULE: RETRY_SCHEDULE.map((s) => `${s}s`).join(',') },
      logDir,
      ports,
    });
    pids.deliverer = services[delivererIndex]!.pid!;

    // 4. Retry precision: endpoints that fail twice, then succeed.
    const flakyCount = targets.flaky.length;
    say(
      `retries: ${flakyCount} events to endpoints that fail twice (schedule ${RETRY_SCHEDULE.join('s, ')}s)`,
    );
    const retryRun = await runScenario(
      20,
      flakyCount / 20,
      (seq) => targets.flaky[seq % targets.flaky.length]!,
      (n) => n * 3,
    );
    const byWebhook = new Map<string, number[]>();
    for (const a of retryRun.arrivals) {
      if (!a.path.startsWith('/flaky/')) continue;
      byWebhook.set(a.webhookId, [...(byWebhook.get(a.webhookId) ?? []), a.t3]);
    }
    const lateness: number[] = [];
    for (const times of byWebhook.values()) {
      times.sort((x, y) => x - y);
      for (let k = 1; k < times.length && k <= RETRY_SCHEDULE.length; k++)
        lateness.push(times[k]! - times[k - 1]! - RETRY_SCHEDULE[k - 1]! * 1_000);
    }
    lateness.sort((x, y) => x - y);
    const retries = {
      schedule_s: RETRY_SCHEDULE,
      retries_measured: lateness.length,
      expected: retryRun.window.last - retryRun.window.first,
      earliest_ms: round(lateness[0] ?? NaN),
      early_count: lateness.filter((l) => l < 0).length,
      late_p50_ms: round(percentile(lateness, 50)),
      late_p99_ms: round(percentile(lateness, 99)),
      late_max_ms: round(lateness.at(-1) ?? NaN),
    };

    // The limits, on the delivery jobs the runs above left in the topic.
    const baseline = async <T = { count: number; seconds: number }>(
      mode: 'minimal' | 'http' | 'consume' | 'hop',
    ): Promise<T> => {
      const child = fork(`${ROOT}tools/bench/baseline.ts`, [
        mode,
        stack.env.KAFKA_BROKERS,
        'hookpost.delivery-jobs.v1',
        receiver.url,
        String(PLAN.baselineSeconds),
      ]);
      const result = await new Promise<T>((resolve, reject) => {
        child.once('message', (m: T) => resolve(m));
        child.once('exit', (code) => reject(new Error(`baseline ${mode} exited ${code}`)));
      });
      await receiver.take();
      return result;
    };
    const rate = (r: { count: number; seconds: number }) => Math.round(r.count / r.seconds);
    say('limits: minimal consume-POST-commit, raw HTTP, raw consume, one Kafka hop');
    const minimal = rate(await baseline('minimal'));
    const rawHttp = rate(await baseline('http'));
    const rawConsume = rate(await baseline('consume'));
    const kafkaHop = await baseline<{ p50: number; p99: number }>('hop');

    const peakRss = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, Math.round(processStats(pid).peakRssMb)]),
    );
    // The deliverer's peak came in the scenarios before its restarts.
    peakRss.deliverer = Math.round(
      Math.max(delivererPeakRssMb, processStats(pids.deliverer).peakRssMb),
    );
    const sustained = best?.deliveries_per_s ?? 0;
    const results = {
      date: new Date().toISOString(),
      command: ['npm run bench:pipeline', ...(ARGS.length > 0 ? ['--', ...ARGS] : [])].join(' '),
      machine: `${process.platform} ${process.arch}, node ${process.version}, 2 cores shared by every process`,
      host: hostFacts(),
      // Latencies are on the benchmark's own clock; hops from Kafka's timestamps are not.
      wall_clock_step_ms: round(wallClockStepMs(), 1),
      event_bytes: EVENT_BYTES,
      deliveries_per_s: sustained,
      ratio_to_baseline: round(sustained / minimal, 2),
      ratio_to_limit: round(sustained / Math.min(rawHttp, rawConsume), 2),
      latency_ms: steady.latencyMs,
      latency_rate: PLAN.steadyRate,
      cpu_seconds_per_delivery: round(steadyRun.cpuSeconds / steady.ledger.delivered, 6),
      cpu_ms_per_delivery: steadyRun.cpuMsPerDelivery,
      event_loop_utilisation: steadyRun.eventLoopUtilisation,
      waiting_for_core: steadyRun.waitingForCore,
      gc_share: steadyRun.gcShare,
      peak_rss_mb: peakRss,
      idle_cpu_percent: idleCpuPercent,
      ledger: steady.ledger,
      // How long the warm-up ran, and what the broker's JIT still used in its last round.
      warmup: { rate: WARMUP.rate, seconds: warmup.seconds, broker_jit_cores: warmup.jitCores },
      scenarios: {
        max_throughput: { steps, max_sustained_rate: best?.rate ?? 0 },
        ...(backlog ? { backlog } : {}),
        steady: {
          rate: PLAN.steadyRate,
          seconds: PLAN.steadySeconds,
          ...steady,
          started_at: new Date(steadyRun.window.startedAt).toISOString(),
          hops_ms: steadyHops,
          slowest_seconds: slowestSeconds(steadyTimes, steadyRun.window.startedAt),
        },
        isolation: {
          rate: PLAN.steadyRate,
          started_at: new Date(isolationRun.window.startedAt).toISOString(),
          retry_schedule: "the deliverer's default",
          healthy_deliveries_per_s: round(isolation.deliveriesPerS),
          healthy_deliveries_per_s_all_healthy_run: round(steadyHealthy.deliveriesPerS),
          throughput_kept: round(isolation.deliveriesPerS / steadyHealthy.deliveriesPerS, 3),
          healthy_p99_ms: isolation.latencyMs.p99,
          healthy_p99_ms_all_healthy_run: steadyHealthy.latencyMs.p99,
          p99_ratio: round(isolation.latencyMs.p99 / steadyHealthy.latencyMs.p99, 2),
          healthy_ledger: isolation.ledger,
          healthy_hops_ms: isolationHops,
          hops_ms_all_healthy_run: steadyHops,
          healthy_slowest_seconds: slowestSeconds(isolationTimes, isolationRun.window.startedAt),
          // The bad endpoints' extra work (failures, retries, breakers) on the same machine.
          cpu_cores: machineCores(isolationRun.cpuCores),
          cpu_cores_all_healthy_run: machineCores(steadyRun.cpuCores),
          event_loop_utilisation: isolationRun.eventLoopUtilisation,
          waiting_for_core: isolationRun.waitingForCore,
          // Per second while the load ran: the deliverer's attempts by outcome, and the jobs
          // it put off unattempted because their endpoint was saturated.
          deliverer_per_s: isolationRun.delivererPerS,
          deliverer_per_s_all_healthy_run: steadyRun.delivererPerS,
        },
        retries,
      },
      limits: {
        minimal_consume_post_commit_per_s: minimal,
        raw_http_per_s: rawHttp,
        raw_consume_per_s: rawConsume,
        kafka_hop_latency_ms: kafkaHop,
        wakeup_quiet_machine: wakeup,
      },
      targets: {
        deliveries_per_s: 5_000,
        ratio_to_baseline: 0.8,
        latency_ms_at_1000_per_s: { p50: 10, p99: 50 },
        isolation: { throughput_kept: 0.9, p99_ratio: 1.2 },
        retries: { early_count: 0, late_max_ms: 1_000 },
      },
    };
    const out = SMOKE
      ? `${ROOT}bench/results/pipeline-smoke.tmp.json`
      : `${ROOT}bench/results/pipeline-${results.date.slice(0, 10)}.json`;
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
    process.stdout.write(`\nwritten to ${out}\n`);
    const ledgerOk = steady.ledger.missing === 0 && isolation.ledger.missing === 0;
    if (!ledgerOk) throw new Error('events were lost: see the ledgers above');
  } finally {
    await Promise.all(services.map((child) => stopChild(child)));
    await producer.disconnect().catch(() => undefined);
    receiver.stop();
    await stack.stop();
    stack.purge();
  }
}

function printTable(r: {
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
    steady: { hops_ms: HopLatencies; slowest_seconds: SlowestSeconds };
    isolation: {
      throughput_kept: number;
      p99_ratio: number;
      cpu_cores: number;
      cpu_cores_all_healthy_run: number;
      deliverer_per_s: Record<string, number>;
      healthy_hops_ms: HopLatencies;
      healthy_slowest_seconds: SlowestSeconds;
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
    [
      'warm-up; the broker JIT in its last round',
      `${r.warmup.seconds} s at ${r.warmup.rate}/s; ${r.warmup.broker_jit_cores} cores`,
      '',
    ],
    ['CPU-seconds per delivery (services)', String(r.cpu_seconds_per_delivery), ''],
    ...Object.entries(r.cpu_ms_per_delivery).map(([k, v]): [string, string, string] => [
      `  CPU ms per delivery, ${k}`,
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
    ['isolation: healthy throughput kept', String(r.scenarios.isolation.throughput_kept), '>= 0.9'],
    ['isolation: healthy p99 ratio', String(r.scenarios.isolation.p99_ratio), '<= 1.2'],
    [
      'isolation: CPU cores in use, all-healthy / isolation',
      `${r.scenarios.isolation.cpu_cores_all_healthy_run} / ${r.scenarios.isolation.cpu_cores}`,
      '',
    ],
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
      `idle CPU ${k}`,
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

await main();
