import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
// kafkajs as the services run it: with their fixes to it (imported first: some must be in
// place before kafkajs loads its producer) and their sockets (no Nagle delay).
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { socketFactory } from '../../libs/platform/src/kafka/socket.ts';
import { build } from '../dev/build.ts';
import { exitOnSignals, say, stopChild } from '../dev/processes.ts';
import { SERVICES, startService, startServices, type ServiceName } from '../dev/services.ts';
import { startStack, type Stack } from '../dev/stack.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { CONSUMER_GROUPS, retryTopic, TOPICS } from '../../libs/contracts/src/topics/topics.ts';
import { now, wallClockStepMs } from './clock.ts';
import { measureCompute } from './compute.ts';
import { type HopLatencies, type HopRun, hopLatencies } from './hops.ts';
import { hostFacts } from './host.ts';
import { EVENT_BYTES, LoadGenerator, type Target } from './load.ts';
import { optionValue } from './options.ts';
import {
  cpuSecondsOf,
  jitCpuSeconds,
  machineCpuSeconds,
  mainThreadWaitSeconds,
  processStats,
} from './proc.ts';
import type { Arrival } from './receiver.ts';
import { Receiver, type ReceiverConnections } from './receiver-client.ts';
import { formatVcpus, printTable } from './report.ts';
import { formatStalls, readStalls, stallsIn } from './stalls.ts';
import { PostgresWatch, upkeep, type PostgresUpkeep } from './postgres-watch.ts';
import { percentile, round } from './stats.ts';
import { firstArrivals, slowestSeconds, summarise, type Ledger, type Window } from './summary.ts';
import { VcpuWatch } from './vcpu-watch.ts';
import { measureWakeup } from './wakeup.ts';
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
 * a sleeping thread (wakeup.ts) and what each vCPU takes for a fixed computation
 * (compute.ts).
 *
 * Prints a table and writes bench/results/pipeline-<date>-<hhmm>.json, named by the UTC
 * time the run began (pipeline-smoke.tmp.json for the smoke run). The services' logs of
 * the last run are kept in tmp/bench-pipeline-logs.
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
/**
 * `--stalls`: each service records the moments its event loop turned 20 ms late or more and
 * its collections' pauses of 10 ms or more (`stall-hook.ts`); the after-steps, control,
 * steady and isolation runs report those that began in them (`stalls`), timed from their
 * start. A timer in each service every 10 ms: not for runs whose figures are compared.
 */
const STALLS = ARGS.includes('--stalls');
if (STALLS && PROFILE) throw new Error('--stalls and --profile each preload a hook: take one');
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
const STALLS_DIR = `${ROOT}tmp/stalls`;
/** The services' logs of the last run, kept when its data goes (a late retry, a stall). */
const LOGS_KEPT = `${ROOT}tmp/bench-pipeline-logs`;
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
      // A minute: the local Postgres's autovacuum goes over the log tables once a minute
      // (its naptime), for 3-9 s and about a second of CPU, and those are often the
      // slowest seconds of the run they fall in. A 30 s run held them or not, by chance
      // of phase, and its p99 with them; a minute holds one pass in every run.
      steadySeconds: 60,
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
 * or two, several times over within its minute.
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

/** The machine's cores in use, from a reading split into services and the rest. */
const machineCores = (cores: Record<string, number>) =>
  round((cores['services'] ?? NaN) + (cores['rest'] ?? NaN), 2);

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
  /** Each vCPU's median CPU time per probe event through the step, µs (vcpu-watch.ts). */
  vcpu_json_us: Record<string, number>;
  postgres: PostgresUpkeep;
  receiver_connections: ReceiverConnections;
  ledger: Ledger;
}

/** One scenario's load, what arrived, and what the processes used meanwhile. */
interface Measured {
  window: Window;
  arrivals: Arrival[];
  /** The services' CPU-seconds, from the start of the load until its last request arrived. */
  cpuSeconds: number;
  cpuMsPerDelivery: Record<string, number>;
  /** Cores in use while the load ran, per process and for the machine (services plus rest). */
  cpuCores: Record<string, number>;
  eventLoopUtilisation: Record<string, number>;
  waitingForCore: Record<string, number>;
  gcShare: Record<string, number>;
  delivererPerS: Record<string, number>;
  /** Each vCPU's speed while the load ran (vcpu-watch.ts). */
  vcpuJsonUs: Record<string, number>;
  /** Postgres's WAL, checkpoints and autovacuum runs, until the last delivery arrived. */
  postgres: PostgresUpkeep;
  /** The deliverer's connections to the receiver, until the last delivery arrived. */
  receiverConnections: ReceiverConnections;
}

/** Each service's clocks so far: event loop busy, in GC pauses, waiting for a core. */
interface ServiceClocks {
  loop: Record<string, number>;
  gc: Record<string, number>;
  waiting: Record<string, number>;
  /** The deliverer's work so far: attempts by outcome, and jobs put off unattempted. */
  work: Record<string, number>;
}

type Kind = 'ok' | 'hang' | 'slow' | 'flaky';

/**
 * The pipeline under test and what drives and watches it: the broker and Postgres, the
 * four services, the receiver, the tenants and their endpoints, and the load generator.
 */
class Pipeline {
  private services: ChildProcess[] = [];
  private env: NodeJS.ProcessEnv = {};
  private ports = {} as Record<ServiceName, number>;
  private adminToken = '';
  readonly pids = {} as Record<ServiceName, number>;
  /** Each kind of endpoint's targets, across the organisations. */
  readonly targets: Record<Kind, Target[]> = { ok: [], hang: [], slow: [], flaky: [] };
  /** The endpoints that never answer or answer late, paused after the isolation scenario. */
  private readonly badEndpoints: Array<{ id: string; key: string }> = [];
  /** The deliverer's peak resident memory over the processes it ran as before this one. */
  private delivererPeakRssMb = 0;
  private brokerProfiling = false;
  readonly load: LoadGenerator;

  readonly stack: Stack;
  readonly receiver: Receiver;
  readonly kafka: Kafka;
  readonly vcpus: VcpuWatch;
  private readonly postgres: PostgresWatch;
  private readonly producer: Producer;
  private readonly dataDir: string;
  private readonly logDir: string;

  constructor(
    stack: Stack,
    receiver: Receiver,
    kafka: Kafka,
    vcpus: VcpuWatch,
    postgres: PostgresWatch,
    producer: Producer,
    dataDir: string,
    logDir: string,
  ) {
    this.stack = stack;
    this.vcpus = vcpus;
    this.postgres = postgres;
    this.receiver = receiver;
    this.kafka = kafka;
    this.producer = producer;
    this.dataDir = dataDir;
    this.logDir = logDir;
    this.load = new LoadGenerator(producer);
  }

  /** The database's schema, then the four services, as the image runs them. */
  async startServices(): Promise<void> {
    this.adminToken = randomBytes(32).toString('base64url');
    this.ports = Object.fromEntries(
      await Promise.all(SERVICES.map(async (s) => [s.name, await freePort()] as const)),
    ) as Record<ServiceName, number>;
    this.env = {
      ...process.env,
      ...this.stack.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      ADMIN_TOKEN: this.adminToken,
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
      ...(STALLS
        ? {
            NODE_OPTIONS: `--import=${ROOT}tools/bench/stall-hook.ts --disable-warning=ExperimentalWarning`,
            HOOKPOST_STALLS: STALLS_DIR,
          }
        : {}),
    };
    const migrate = spawnSync(process.execPath, ['apps/subscription-api/dist/migrate.js'], {
      cwd: ROOT,
      env: this.env,
      encoding: 'utf8',
    });
    if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
    this.services = await startServices({ env: this.env, logDir: this.logDir, ports: this.ports });
    SERVICES.forEach((s, i) => (this.pids[s.name] = this.services[i]!.pid!));
  }

  /**
   * Tenants: each organisation has healthy endpoints, one scoped to each of its sending
   * domains so that every event matches exactly one subscription; and one endpoint each
   * that never answers, answers after 5 s, or fails twice before it succeeds.
   */
  async createTenants(): Promise<void> {
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
      const org = await this.call('/v1/organizations', this.adminToken, {
        name: `Bench ${o}`,
        domains: names.map((n) => domainOf(`${n.kind}${n.i}`)),
      });
      const organizationId = org.id as string;
      const key = await this.call(
        `/v1/organizations/${organizationId}/api-keys`,
        this.adminToken,
        {},
      );
      for (const { kind, i } of names) {
        const domain = domainOf(`${kind}${i}`);
        const subscription = await this.call('/v1/webhooks', key.key as string, {
          url: `${this.receiver.url}/${kind}/${o}/${i}`,
          events: ['message.delivered'],
          scope: { domains: [domain], mailboxes: [] },
        });
        if (kind === 'hang' || kind === 'slow')
          this.badEndpoints.push({ id: subscription.id as string, key: key.key as string });
        this.targets[kind].push({ organizationId, domain });
      }
    }
  }

  /** Postgres's upkeep brought up to date before a compared run (PostgresWatch.settle). */
  async settlePostgres(): Promise<void> {
    const { seconds, checkpointed } = await this.postgres.settle();
    say(
      `  Postgres vacuumed and analysed${checkpointed ? ', and checkpointed' : ' (its role may not checkpoint)'} in ${round(seconds, 1)} s`,
    );
  }

  /** A healthy endpoint for each event, in turn. */
  readonly healthy = (seq: number): Target => this.targets.ok[seq % this.targets.ok.length]!;

  /** What each process uses with nothing to do (polling, timers), as a share of one core. */
  async idleCpuPercent(): Promise<Record<string, number>> {
    const before = this.cpu();
    await sleep(PLAN.idleSeconds * 1_000);
    const after = this.cpu();
    return Object.fromEntries(
      Object.keys(after).map((k) => [
        k,
        round(((after[k]! - before[k]!) / PLAN.idleSeconds) * 100),
      ]),
    );
  }

  async connectLoad(): Promise<void> {
    await this.producer.connect();
  }

  /**
   * CPU-seconds so far: each service's, and the rest of the machine's, split into the
   * broker, Postgres, the receiver, this process (the load generator) and everything else;
   * and of the machine's whole, the kernel's (`kernel`).
   */
  cpu(): Record<string, number> {
    const byService = Object.fromEntries(
      Object.entries(this.pids).map(([name, pid]) => [name, processStats(pid).cpuSeconds]),
    );
    const services = Object.values(byService).reduce((sum, x) => sum + x, 0);
    const usage = process.cpuUsage();
    const rest = {
      broker: cpuSecondsOf('java'),
      postgres: cpuSecondsOf('postgres'),
      receiver: processStats(this.receiver.pid).cpuSeconds,
      load: (usage.user + usage.system) / 1e6,
    };
    const machine = machineCpuSeconds();
    const other = machine.total - services - Object.values(rest).reduce((sum, x) => sum + x, 0);
    // `kernel` is not one more part beside the others: it is their time in the kernel.
    return {
      ...byService,
      services,
      rest: machine.total - services,
      ...rest,
      other,
      kernel: machine.kernel,
    };
  }

  /**
   * Per service, seconds so far with its event loop busy, and in garbage-collection pauses
   * (prom-client's default metrics; the pauses of every kind of collection summed).
   */
  async serviceClocks(): Promise<ServiceClocks> {
    const readings = await Promise.all(
      SERVICES.map(async ({ name }) => {
        const text = await (await fetch(`http://127.0.0.1:${this.ports[name]}/metrics`)).text();
        const loop = /^hookpost_event_loop_active_seconds_total (\S+)$/m.exec(text)?.[1];
        if (loop === undefined) throw new Error(`${name} reports no event-loop metric`);
        const gc = [...text.matchAll(/^hookpost_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm)];
        // A process that has not collected yet (the deliverer just restarted) declares the
        // histogram without a sample: its pauses so far are none.
        if (
          gc.length === 0 &&
          !/^# TYPE hookpost_nodejs_gc_duration_seconds histogram$/m.test(text)
        )
          throw new Error(`${name} reports no garbage-collection metric`);
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
          waiting: mainThreadWaitSeconds(this.pids[name]),
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
  }

  /**
   * Produces `rate` events a second for `seconds`, each to `route(seq)`, waits for their
   * requests (`expectedRequests` of them, to paths starting with `prefix`), and measures.
   */
  async measure(
    rate: number,
    seconds: number,
    route: (seq: number) => Target,
    expectedRequests: (produced: number) => number,
    prefix?: string,
  ): Promise<Measured> {
    // Both hand over what came before and start again from now: this run's own.
    await this.receiver.take();
    await this.receiver.connections();
    const postgresBefore = await this.postgres.read();
    const cpuBefore = this.cpu();
    const clocksBefore = await this.serviceClocks();
    const first = this.load.next;
    const startedAt = now();
    await this.load.run(rate, seconds, route);
    const endedAt = now();
    const cpuAtEnd = this.cpu();
    // Over the load alone: the drain that follows would dilute it with idle time.
    const clocksAfter = await this.serviceClocks();
    const loadSeconds = (endedAt - startedAt) / 1_000;
    const work = growth(
      { ...NO_WORK, ...clocksBefore.work },
      { ...NO_WORK, ...clocksAfter.work },
      loadSeconds,
      0,
    );
    await this.drain(expectedRequests(this.load.next - first), prefix);
    const arrivals = await this.receiver.take();
    const receiverConnections = await this.receiver.connections();
    const cpuAfter = this.cpu();
    const postgresAfter = await this.postgres.read();
    const delivered = new Set(arrivals.filter((a) => a.status === 200).map((a) => a.seq)).size;
    return {
      window: { first, last: this.load.next, startedAt, endedAt },
      arrivals,
      cpuSeconds: cpuAfter.services! - cpuBefore.services!,
      // CPU-seconds per thousand deliveries: milliseconds per delivery.
      cpuMsPerDelivery: growth(cpuBefore, cpuAfter, delivered / 1_000, 3),
      cpuCores: growth(cpuBefore, cpuAtEnd, loadSeconds, 2),
      eventLoopUtilisation: growth(clocksBefore.loop, clocksAfter.loop, loadSeconds, 2),
      waitingForCore: growth(clocksBefore.waiting, clocksAfter.waiting, loadSeconds, 2),
      gcShare: growth(clocksBefore.gc, clocksAfter.gc, loadSeconds, 3),
      delivererPerS: work,
      vcpuJsonUs: this.vcpus.during(startedAt, endedAt),
      postgres: upkeep(postgresBefore, postgresAfter, delivered),
      receiverConnections,
    };
  }

  /**
   * Waits until `expected` requests (to paths starting with `prefix`) arrived in this
   * window, or none arrived for `idleMs`. A job the deliverer put off while it was behind
   * comes back after the default schedule's first delay (1 min): a scenario is not over
   * until those have come back too.
   */
  private async drain(expected: number, prefix?: string, idleMs = 70_000): Promise<void> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const count = await this.receiver.count(prefix);
      if (count >= expected) return;
      if (count !== last) {
        last = count;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > idleMs) return;
      await sleep(200);
    }
  }

  async stopDeliverer(): Promise<void> {
    this.delivererPeakRssMb = Math.max(
      this.delivererPeakRssMb,
      processStats(this.pids.deliverer).peakRssMb,
    );
    await stopChild(this.services[DELIVERER]!);
  }

  /** Starts the deliverer again, with `env` over the others' environment. */
  async startDeliverer(env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.services[DELIVERER] = await startService('deliverer', {
      env: { ...this.env, ...env },
      logDir: this.logDir,
      ports: this.ports,
    });
    this.pids.deliverer = this.services[DELIVERER]!.pid!;
  }

  /** Pauses the endpoints that never answer or answer late, over the API. */
  async pauseBadEndpoints(): Promise<void> {
    for (const { id, key } of this.badEndpoints)
      await this.call(`/v1/webhooks/${id}/pause`, key, {});
  }

  /** Each service's peak resident memory, the deliverer's across its restarts. */
  peakRssMb(): Record<string, number> {
    const peaks = Object.fromEntries(
      Object.entries(this.pids).map(([name, pid]) => [
        name,
        Math.round(processStats(pid).peakRssMb),
      ]),
    );
    peaks.deliverer = Math.round(
      Math.max(this.delivererPeakRssMb, processStats(this.pids.deliverer).peakRssMb),
    );
    return peaks;
  }

  /** Starts or stops the CPU profiles of the services and the broker's flight recording. */
  toggleProfiles(): void {
    if (!PROFILE) return;
    for (const pid of Object.values(this.pids)) process.kill(pid, 'SIGUSR2');
    this.brokerProfiling = !this.brokerProfiling;
    brokerRecording(this.dataDir, this.brokerProfiling);
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((child) => stopChild(child)));
    await this.producer.disconnect().catch(() => undefined);
    this.receiver.stop();
    this.vcpus.stop();
    await this.postgres.close().catch(() => undefined);
    rmSync(LOGS_KEPT, { recursive: true, force: true });
    cpSync(this.logDir, LOGS_KEPT, { recursive: true });
    await this.stack.stop();
    this.stack.purge();
  }

  private async call(path: string, token: string, body?: unknown) {
    const response = await fetch(`http://127.0.0.1:${this.ports['subscription-api']}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }
}

const DELIVERER = SERVICES.findIndex((s) => s.name === 'deliverer');

/**
 * Until the broker's JIT has settled: a cold broker halves a step's rate, and on this
 * machine its compiler threads take minutes, at up to half a core, to get there.
 */
async function warmUp(pipeline: Pipeline) {
  const warmup = { seconds: 0, jitCores: NaN };
  for (let i = 0; i < WARMUP.maxRounds; i++) {
    say(`warming up: ${WARMUP.rate} events/s for ${WARMUP.roundSeconds} s`);
    const jitBefore = jitCpuSeconds();
    const started = now();
    await pipeline.measure(WARMUP.rate, WARMUP.roundSeconds, pipeline.healthy, (n) => n);
    const seconds = (now() - started) / 1_000;
    warmup.seconds = round(warmup.seconds + seconds);
    warmup.jitCores = round((jitCpuSeconds() - jitBefore) / seconds, 2);
    say(`  the broker's JIT compilers used ${warmup.jitCores} cores`);
    if (warmup.jitCores < WARMUP.settledJitCores) break;
  }
  return warmup;
}

/** 1. Maximum sustainable throughput: the rate stepped up until a step falls behind. */
async function throughputSteps(pipeline: Pipeline): Promise<{ steps: Step[]; best?: Step }> {
  const steps: Step[] = [];
  let best: Step | undefined;
  for (const rate of PLAN.steps) {
    say(`step: ${rate} events/s for ${PLAN.stepSeconds} s`);
    const run = await pipeline.measure(rate, PLAN.stepSeconds, pipeline.healthy, (n) => n);
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
      vcpu_json_us: run.vcpuJsonUs,
      postgres: run.postgres,
      receiver_connections: run.receiverConnections,
      ledger: summary.ledger,
    };
    steps.push(step);
    say(
      `  ${step.deliveries_per_s} deliveries/s, backlog ${step.backlog_at_end}, p99 ${step.latency_ms.p99} ms, ${step.deliverer_per_s.deferred} put off/s; the deliverer's event loop busy ${step.event_loop_utilisation.deliverer}, waiting for a core ${step.waiting_for_core.deliverer}; the machine ${machineCores(run.cpuCores)} cores, ${round(run.cpuCores.kernel! / machineCores(run.cpuCores), 2)} of it in the kernel; µs per probe event, ${formatVcpus(step.vcpu_json_us)}; Postgres ${step.postgres.wal_bytes_per_delivery} B of WAL and ${step.postgres.full_page_images_per_delivery} full-page images per delivery, ${step.postgres.checkpoints} checkpoints begun; connections to the receiver: ${step.receiver_connections.opened} opened, ${step.receiver_connections.closed} closed, at most ${step.receiver_connections.most_open} open`,
    );
    if (!sustained) break;
    best = step;
  }
  return { steps, best };
}

/**
 * 1b. The deliverer alone, catching up with a backlog (`--backlog`): stopped while the
 * jobs are queued, then started again and timed from its first delivery to the last.
 */
async function workOffBacklog(pipeline: Pipeline) {
  const { receiver, kafka } = pipeline;
  say(`backlog: ${BACKLOG} jobs queued with the deliverer stopped, then worked off`);
  await receiver.take();
  await pipeline.stopDeliverer();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const jobsQueued = async () =>
      (await admin.fetchTopicOffsets(TOPICS.deliveryJobs)).reduce((n, p) => n + Number(p.high), 0);
    const queuedBefore = await jobsQueued();
    await pipeline.load.run(BACKLOG_RATE, BACKLOG / BACKLOG_RATE, pipeline.healthy);
    const queueDeadline = Date.now() + 120_000;
    while ((await jobsQueued()) - queuedBefore < BACKLOG) {
      if (Date.now() > queueDeadline)
        throw new Error('backlog: the matcher did not queue every job');
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
  await pipeline.startDeliverer();
  // Timed from the first delivery: the process's start and its joining the group are not
  // what is measured. Polled every 20 ms.
  const reading = async () => ({
    t: now(),
    delivered: await receiver.count(),
    cpu: pipeline.cpu(),
    clocks: await pipeline.serviceClocks(),
  });
  while ((await receiver.count()) === 0) await sleep(20);
  const first = await reading();
  if (PROFILED === 'backlog') process.kill(pipeline.pids.deliverer, 'SIGUSR2');
  const workDeadline = Date.now() + 300_000;
  while ((await receiver.count()) < BACKLOG && Date.now() < workDeadline) await sleep(20);
  const last = await reading();
  if (PROFILED === 'backlog') {
    process.kill(pipeline.pids.deliverer, 'SIGUSR2');
    say(`CPU profile of the deliverer working off the backlog in ${PROFILE_DIR}`);
  }
  if (last.delivered < BACKLOG)
    throw new Error(`backlog: ${last.delivered} of ${BACKLOG} jobs delivered in 5 min`);
  const seconds = (last.t - first.t) / 1_000;
  const count = last.delivered - first.delivered;
  const cores = growth(first.cpu, last.cpu, seconds, 2);
  const backlog = {
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
    vcpu_json_us: pipeline.vcpus.during(first.t, last.t),
  };
  say(
    `  ${backlog.deliveries_per_s} deliveries/s, deliverer ${backlog.deliverer_cpu_ms_per_delivery} ms of CPU per delivery, ${backlog.deliverer_cores} cores (machine ${backlog.machine_cores}), its main thread waiting for a core ${backlog.deliverer_waiting_for_core} of the time, ${backlog.put_off} put off; µs per probe event, ${formatVcpus(backlog.vcpu_json_us)}`,
  );
  await receiver.take();
  return backlog;
}

/** A scenario measured with the services' CPU profiles on, when `--profile` names it. */
async function profiledIf(
  pipeline: Pipeline,
  scenario: typeof PROFILED,
  measure: () => Promise<Measured>,
): Promise<Measured> {
  if (PROFILED !== scenario) return measure();
  pipeline.toggleProfiles();
  const measured = await measure();
  pipeline.toggleProfiles();
  say(`CPU profiles of the ${scenario} run in ${PROFILE_DIR}`);
  return measured;
}

/**
 * The compared runs' hops, read from the topics once the last of them is over. The
 * topics are read whole; read after each run, that work put 11–17 s between the control
 * and the steady run and between the steady and the isolation run, but not before the
 * control (docs/performance.md, What holds it back: a run's p99). `of` hands back the
 * report's entry, which `read` fills in before the results are written.
 */
class LaterHops {
  private readonly runs: (HopRun & { into: HopLatencies })[] = [];

  of(window: HopRun['window'], times: HopRun['times']): HopLatencies {
    const into = {} as HopLatencies;
    this.runs.push({ window, times, into });
    return into;
  }

  async read(brokers: string): Promise<void> {
    const hops = await hopLatencies(brokers, this.runs);
    this.runs.forEach((run, i) => Object.assign(run.into, hops[i]));
  }
}

/** 2. Latency at a steady rate (all endpoints healthy). */
async function steadyLatency(pipeline: Pipeline, laterHops: LaterHops) {
  say(`steady: ${PLAN.steadyRate} events/s for ${PLAN.steadySeconds} s`);
  await pipeline.settlePostgres();
  const run = await profiledIf(pipeline, 'steady', () =>
    pipeline.measure(PLAN.steadyRate, PLAN.steadySeconds, pipeline.healthy, (n) => n),
  );
  const summary = summarise(run.arrivals, run.window, () => true);
  const times = firstArrivals(run.arrivals, run.window, () => true);
  const hops = laterHops.of(run.window, times);
  return {
    run,
    summary,
    report: {
      rate: PLAN.steadyRate,
      seconds: PLAN.steadySeconds,
      ...summary,
      started_at: new Date(run.window.startedAt).toISOString(),
      hops_ms: hops,
      slowest_seconds: slowestSeconds(times, run.window.startedAt),
      vcpu_json_us: run.vcpuJsonUs,
      postgres: run.postgres,
      receiver_connections: run.receiverConnections,
    },
  };
}

/**
 * A minute of the steady load between the throughput steps (or the backlog) and the
 * compared runs, not compared itself. The steps leave work behind that lands in the
 * minute after them: the connections the deliverer opened in the highest steps (up to one
 * per request in flight), idle since, close together when the receiver's keep-alive
 * (60 s) runs out (`receiver_connections.closed`); its heap, grown there, whose next full
 * collection V8 sets high; the rows they added to Postgres's tables. The minute after the
 * steps was the slower of two all-healthy minutes in a row in nearly every full run
 * (docs/performance.md), so it is not one of those compared; its figures are kept to show
 * it.
 */
async function afterSteps(pipeline: Pipeline) {
  say(
    `after the steps: ${PLAN.steadyRate} events/s for ${PLAN.steadySeconds} s, all healthy, not compared`,
  );
  const run = await pipeline.measure(
    PLAN.steadyRate,
    PLAN.steadySeconds,
    pipeline.healthy,
    (n) => n,
  );
  const summary = summarise(run.arrivals, run.window, () => true);
  const times = firstArrivals(run.arrivals, run.window, () => true);
  return {
    ledger: summary.ledger,
    report: {
      rate: PLAN.steadyRate,
      seconds: PLAN.steadySeconds,
      started_at: new Date(run.window.startedAt).toISOString(),
      latency_ms: summary.latencyMs,
      slowest_seconds: slowestSeconds(times, run.window.startedAt),
      gc_share: run.gcShare,
      vcpu_json_us: run.vcpuJsonUs,
      postgres: run.postgres,
      receiver_connections: run.receiverConnections,
      ledger: summary.ledger,
    },
  };
}

/** The events the isolation scenario sends to healthy endpoints: eight in ten. */
const isHealthy = (seq: number) => seq % 10 >= 2;

/**
 * The control for 3: the same all-healthy load as 2, just before it. The isolation
 * scenario's p99 ratio compares two runs a minute or two apart, on a machine whose speed
 * moves within minutes; the same ratio between two all-healthy runs in a row shows how
 * far it moves with no bad endpoint at all.
 */
async function allHealthyControl(pipeline: Pipeline, laterHops: LaterHops) {
  say(`control: ${PLAN.steadyRate} events/s for ${PLAN.steadySeconds} s, all healthy`);
  await pipeline.settlePostgres();
  const run = await pipeline.measure(
    PLAN.steadyRate,
    PLAN.steadySeconds,
    pipeline.healthy,
    (n) => n,
  );
  const healthy = summarise(run.arrivals, run.window, isHealthy);
  // Where its time went, as for the isolation run.
  const times = firstArrivals(run.arrivals, run.window, isHealthy);
  return {
    healthy,
    report: {
      started_at: new Date(run.window.startedAt).toISOString(),
      healthy_p99_ms: healthy.latencyMs.p99,
      healthy_ledger: healthy.ledger,
      healthy_hops_ms: laterHops.of(run.window, times),
      healthy_slowest_seconds: slowestSeconds(times, run.window.startedAt),
      cpu_cores_by_process: run.cpuCores,
      event_loop_utilisation: run.eventLoopUtilisation,
      gc_share: run.gcShare,
      vcpu_json_us: run.vcpuJsonUs,
      postgres: run.postgres,
      receiver_connections: run.receiverConnections,
    },
  };
}

/**
 * 3. Isolation: one event in ten to an endpoint that never answers, one in ten to one
 * that answers after 5 s; the rest as in 2, and the healthy ones judged against it.
 */
async function isolation(
  pipeline: Pipeline,
  steady: Awaited<ReturnType<typeof steadyLatency>>,
  control: Awaited<ReturnType<typeof allHealthyControl>>,
  laterHops: LaterHops,
) {
  say(
    `isolation: ${PLAN.steadyRate} events/s, 10% never answered, 10% answered after 5 s (default retry schedule)`,
  );
  await pipeline.settlePostgres();
  const { hang, slow } = pipeline.targets;
  const route = (seq: number) =>
    seq % 10 === 0
      ? hang[seq % hang.length]!
      : seq % 10 === 1
        ? slow[seq % slow.length]!
        : pipeline.healthy(seq);
  const run = await profiledIf(pipeline, 'isolation', () =>
    pipeline.measure(
      PLAN.steadyRate,
      PLAN.steadySeconds,
      route,
      // The healthy ones; the slow endpoints' requests trickle in long after.
      (n) => Math.round(n * 0.8),
      '/ok/',
    ),
  );
  const healthy = summarise(run.arrivals, run.window, isHealthy);
  const allHealthy = summarise(steady.run.arrivals, steady.run.window, isHealthy);
  // Which hop the healthy deliveries' extra latency comes from, and when in the run.
  const times = firstArrivals(run.arrivals, run.window, isHealthy);
  const hops = laterHops.of(run.window, times);
  return {
    ledger: healthy.ledger,
    report: {
      rate: PLAN.steadyRate,
      started_at: new Date(run.window.startedAt).toISOString(),
      retry_schedule: "the deliverer's default",
      healthy_deliveries_per_s: round(healthy.deliveriesPerS),
      healthy_deliveries_per_s_all_healthy_run: round(allHealthy.deliveriesPerS),
      throughput_kept: round(healthy.deliveriesPerS / allHealthy.deliveriesPerS, 3),
      healthy_p99_ms: healthy.latencyMs.p99,
      healthy_p99_ms_all_healthy_run: allHealthy.latencyMs.p99,
      p99_ratio: round(healthy.latencyMs.p99 / allHealthy.latencyMs.p99, 2),
      // The same events' p99 in the all-healthy run just before 2, and 2's against it.
      control: {
        ...control.report,
        p99_ratio: round(allHealthy.latencyMs.p99 / control.healthy.latencyMs.p99, 2),
      },
      healthy_ledger: healthy.ledger,
      healthy_hops_ms: hops,
      hops_ms_all_healthy_run: steady.report.hops_ms,
      healthy_slowest_seconds: slowestSeconds(times, run.window.startedAt),
      // The bad endpoints' extra work (failures, retries, breakers) on the same machine.
      cpu_cores: machineCores(run.cpuCores),
      cpu_cores_all_healthy_run: machineCores(steady.run.cpuCores),
      // Which process does that extra work: cores per process, and the kernel's share.
      cpu_cores_by_process: run.cpuCores,
      cpu_cores_by_process_all_healthy_run: steady.run.cpuCores,
      event_loop_utilisation: run.eventLoopUtilisation,
      waiting_for_core: run.waitingForCore,
      gc_share: run.gcShare,
      // Per second while the load ran: the deliverer's attempts by outcome, and the jobs
      // it put off unattempted because their endpoint was saturated.
      deliverer_per_s: run.delivererPerS,
      deliverer_per_s_all_healthy_run: steady.run.delivererPerS,
      vcpu_json_us: run.vcpuJsonUs,
      // Per healthy delivery: the bad endpoints' attempts are logged too.
      postgres: run.postgres,
      receiver_connections: run.receiverConnections,
    },
  };
}

/**
 * 4. Retry precision: endpoints that fail twice, then succeed, with the short schedule.
 * The bad endpoints are paused first. What the isolation run put off or short-circuited
 * for them waits on the default schedule's first delay topic (a minute), and a deliverer
 * reads every delay topic it finds (ADR 0005): before the restart with the short
 * schedule, those jobs are left to come back and be skipped, so that the scenario times
 * its own retries, not a burst of the run before (one retry came 1,538 ms late at 18:20
 * UTC on 2026-12-07, on a slow boot, while the restarted deliverer worked off the jobs
 * that fell due while it was down). Those put off again wait minutes longer, past the end.
 */
async function retryPrecision(pipeline: Pipeline) {
  await pipeline.pauseBadEndpoints();
  const drained = await untilDelayTopicWorkedOff(pipeline, DEFAULT_FIRST_DELAY_S);
  await pipeline.stopDeliverer();
  await pipeline.startDeliverer({ RETRY_SCHEDULE: RETRY_SCHEDULE.map((s) => `${s}s`).join(',') });

  const { flaky } = pipeline.targets;
  say(
    `retries: ${flaky.length} events to endpoints that fail twice (schedule ${RETRY_SCHEDULE.join('s, ')}s)`,
  );
  const run = await pipeline.measure(
    20,
    flaky.length / 20,
    (seq) => flaky[seq % flaky.length]!,
    (n) => n * 3,
  );
  const byWebhook = new Map<string, number[]>();
  for (const a of run.arrivals) {
    if (!a.path.startsWith('/flaky/')) continue;
    byWebhook.set(a.webhookId, [...(byWebhook.get(a.webhookId) ?? []), a.t3]);
  }
  const lateness: number[] = [];
  // Which retries were latest, and when: a late one at the start points at the deliverer
  // restarted just before, one in the middle at the machine or the broker.
  const retried: Array<{ retry: number; late_ms: number; at_s: number }> = [];
  const start = Math.min(...[...byWebhook.values()].flat());
  for (const times of byWebhook.values()) {
    times.sort((x, y) => x - y);
    for (let k = 1; k < times.length && k <= RETRY_SCHEDULE.length; k++) {
      const late = times[k]! - times[k - 1]! - RETRY_SCHEDULE[k - 1]! * 1_000;
      lateness.push(late);
      retried.push({ retry: k, late_ms: round(late), at_s: round((times[k]! - start) / 1_000) });
    }
  }
  lateness.sort((x, y) => x - y);
  return {
    schedule_s: RETRY_SCHEDULE,
    // How long the jobs the isolation run sent to the first delay took to be worked off.
    waited_for_delay_topic_s: drained.seconds,
    ...(drained.left > 0 ? { delay_topic_left: drained.left } : {}),
    retries_measured: lateness.length,
    expected: run.window.last - run.window.first,
    earliest_ms: round(lateness[0] ?? NaN),
    early_count: lateness.filter((l) => l < 0).length,
    late_p50_ms: round(percentile(lateness, 50)),
    late_p99_ms: round(percentile(lateness, 99)),
    late_max_ms: round(lateness.at(-1) ?? NaN),
    latest: retried.sort((x, y) => y.late_ms - x.late_ms).slice(0, 3),
  };
}

/** The deliverer's default schedule's first delay, in seconds (`1m,5m,...`). */
const DEFAULT_FIRST_DELAY_S = 60;

/**
 * Waits until the deliverers' retry group has read and committed everything on the delay
 * topic of `delaySeconds`: each job there is due at most that long after it was sent.
 */
async function untilDelayTopicWorkedOff(
  pipeline: Pipeline,
  delaySeconds: number,
): Promise<{ seconds: number; left: number }> {
  const topic = retryTopic(delaySeconds);
  const admin = pipeline.kafka.admin();
  await admin.connect();
  const started = Date.now();
  try {
    const left = async () => {
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: CONSUMER_GROUPS.delivererRetry, topics: [topic] }),
      ]);
      const at = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
      // An offset of -1 (nothing committed there yet): all of the partition is still to read.
      return ends.reduce((n, p) => n + Number(p.high) - Math.max(0, at.get(p.partition) ?? 0), 0);
    };
    const deadline = started + (delaySeconds + 60) * 1_000;
    let jobs = await left();
    say(`retries: waiting for the ${jobs} jobs on ${topic} to come back and be worked off`);
    while (jobs > 0 && Date.now() < deadline) {
      await sleep(500);
      jobs = await left();
    }
    if (jobs > 0) say(`retries: ${jobs} jobs still on ${topic}; going on`);
    return { seconds: round((Date.now() - started) / 1_000, 1), left: jobs };
  } finally {
    await admin.disconnect();
  }
}

/**
 * The limits, on the same broker and receiver, with the delivery jobs the runs above
 * left in the topic: the minimal consume-POST-commit script, undici alone, kafkajs alone
 * consuming, and one produce-to-consume hop (baseline.ts, each in a process of its own).
 */
async function limits(pipeline: Pipeline) {
  const { receiver } = pipeline;
  const baseline = async <T = { count: number; seconds: number }>(
    mode: 'minimal' | 'http' | 'consume' | 'hop',
  ): Promise<T> => {
    const child = fork(`${ROOT}tools/bench/baseline.ts`, [
      mode,
      pipeline.stack.env.KAFKA_BROKERS,
      TOPICS.deliveryJobs,
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
  const startedAt = now();
  const minimal = rate(await baseline('minimal'));
  return {
    minimal_consume_post_commit_per_s: minimal,
    // The ratio to the baseline holds only if the vCPUs kept their speed from the steps to
    // here; a host can halve it for minutes (docs/performance.md).
    minimal_baseline_vcpu_json_us: pipeline.vcpus.during(startedAt, now()),
    raw_http_per_s: rate(await baseline('http')),
    raw_consume_per_s: rate(await baseline('consume')),
    kafka_hop_latency_ms: await baseline<{ p50: number; p99: number }>('hop'),
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
  exitOnSignals();
  const launched = new Date();
  build();
  // Before anything else runs: with both cores idle, a wake-up costs what it costs when
  // a process sleeps between events (with the machine busy, a vCPU is rarely halted), and
  // a core's own speed is not shared with anything.
  const wakeup = measureWakeup();
  const compute = measureCompute();
  const vcpus = VcpuWatch.start();
  const dataDir = `${ROOT}.data/bench-pipeline-${process.pid}`;
  const logDir = `${dataDir}/logs`;
  mkdirSync(logDir, { recursive: true });
  if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });
  if (STALLS) {
    rmSync(STALLS_DIR, { recursive: true, force: true });
    mkdirSync(STALLS_DIR, { recursive: true });
  }
  const stack = await startStack({
    dataDir,
    kafkaPort: await freePort(),
    kafkaControllerPort: await freePort(),
    postgresPort: await freePort(),
  });
  const postgres = await PostgresWatch.connect(stack.env.DATABASE_URL).catch(async (error) => {
    await stack.stop();
    throw error;
  });
  const receiver = await Receiver.start();
  const kafka = new Kafka({
    clientId: 'bench-pipeline',
    socketFactory,
    brokers: stack.env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const pipeline = new Pipeline(stack, receiver, kafka, vcpus, postgres, producer, dataDir, logDir);
  try {
    await pipeline.startServices();
    await pipeline.createTenants();
    // Subscription changes reach the matcher and deliverer within a second.
    await sleep(2_000);
    const idleCpuPercent = await pipeline.idleCpuPercent();
    await pipeline.connectLoad();

    const warmup = await warmUp(pipeline);
    const { steps, best } = await throughputSteps(pipeline);
    const backlog = BACKLOG > 0 ? await workOffBacklog(pipeline) : undefined;
    const settling = await afterSteps(pipeline);
    const laterHops = new LaterHops();
    const control = await allHealthyControl(pipeline, laterHops);
    const steady = await steadyLatency(pipeline, laterHops);
    const isolated = await isolation(pipeline, steady, control, laterHops);
    await laterHops.read(pipeline.stack.env.KAFKA_BROKERS);
    const retries = await retryPrecision(pipeline);
    const limit = await limits(pipeline);

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
      ratio_to_baseline: round(sustained / limit.minimal_consume_post_commit_per_s, 2),
      ratio_to_limit: round(sustained / Math.min(limit.raw_http_per_s, limit.raw_consume_per_s), 2),
      latency_ms: steady.summary.latencyMs,
      latency_rate: PLAN.steadyRate,
      cpu_seconds_per_delivery: round(steady.run.cpuSeconds / steady.summary.ledger.delivered, 6),
      cpu_ms_per_delivery: steady.run.cpuMsPerDelivery,
      event_loop_utilisation: steady.run.eventLoopUtilisation,
      waiting_for_core: steady.run.waitingForCore,
      gc_share: steady.run.gcShare,
      peak_rss_mb: pipeline.peakRssMb(),
      idle_cpu_percent: idleCpuPercent,
      ledger: steady.summary.ledger,
      // How long the warm-up ran, and what the broker's JIT still used in its last round.
      warmup: { rate: WARMUP.rate, seconds: warmup.seconds, broker_jit_cores: warmup.jitCores },
      scenarios: {
        max_throughput: { steps, max_sustained_rate: best?.rate ?? 0 },
        ...(backlog ? { backlog } : {}),
        after_steps: settling.report,
        steady: steady.report,
        isolation: isolated.report,
        retries,
      },
      limits: { ...limit, wakeup_quiet_machine: wakeup, compute_quiet_machine: compute },
      targets: {
        deliveries_per_s: 5_000,
        ratio_to_baseline: 0.8,
        latency_ms_at_1000_per_s: { p50: 10, p99: 50 },
        isolation: { throughput_kept: 0.9, p99_ratio: 1.2 },
        retries: { early_count: 0, late_max_ms: 1_000 },
      },
    };
    if (STALLS) {
      const all = readStalls(STALLS_DIR);
      const { after_steps, steady: steadyRun, isolation: isolationRun } = results.scenarios;
      const runs = [
        ['after the steps', after_steps],
        ['control', isolationRun.control],
        ['steady', steadyRun],
        ['isolation', isolationRun],
      ] as const;
      // All four last as long.
      for (const [name, report] of runs) {
        const stalls = stallsIn(all, {
          started_at: report.started_at,
          seconds: PLAN.steadySeconds,
        });
        Object.assign(report, { stalls });
        say(`stalls, ${name}: ${formatStalls(stalls)}`);
      }
    }
    // Named by the time the run began (UTC), so that runs on one day do not overwrite.
    const out = SMOKE
      ? `${ROOT}bench/results/pipeline-smoke.tmp.json`
      : `${ROOT}bench/results/pipeline-${launched.toISOString().slice(0, 10)}-${launched.toISOString().slice(11, 16).replace(':', '')}.json`;
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
    process.stdout.write(`\nwritten to ${out}\n`);
    const ledgerOk =
      settling.ledger.missing === 0 &&
      control.healthy.ledger.missing === 0 &&
      steady.summary.ledger.missing === 0 &&
      isolated.ledger.missing === 0;
    if (!ledgerOk) throw new Error('events were lost: see the ledgers above');
  } finally {
    await pipeline.stop();
  }
}

await main();
