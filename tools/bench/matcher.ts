import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
// kafkajs as the services run it, with their fixes (imported first: some must be in place
// before kafkajs loads its producer).
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Kafka, logLevel } from 'kafkajs';
import { build } from '../dev/build.ts';
import { exitOnSignals } from '../dev/processes.ts';
import { startStack } from '../dev/stack.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { SERVICE_ENV, serviceNodeFlags } from '../../libs/testing/src/service-runtime.ts';
import { ROOT, say } from '../infra/system.ts';

/**
 * `npm run bench:matcher`: the matcher with 100,000 subscriptions across 1,000
 * organisations (BENCH_SUBSCRIPTIONS, BENCH_ORGANIZATIONS to change). Prints the cold
 * start (process start to ready, index loaded from the compacted state topic), resident
 * memory, and match throughput on one core: in process (the index alone) and end to end
 * (one matcher process draining a backlog of events from Kafka into delivery jobs).
 * Writes bench/results/matcher-<date>.json.
 */
const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 100_000);
const ORGANIZATIONS = Number(process.env.BENCH_ORGANIZATIONS ?? 1_000);
const BACKLOG_EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const IN_PROCESS_MATCHES = 1_000_000;
/**
 * The matcher as deployed: the image's flags and environment, and the heap cap the chart
 * gives it (serviceNodeFlags; checked against the chart by tools/deploy/validate.ts).
 * BENCH_NODE_FLAGS replaces the flags to try others.
 */
const NODE_FLAGS =
  process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? serviceNodeFlags('matcher');
const STATE_TOPIC = 'hookpost.subscription-state.v1';
const EVENTS_TOPIC = 'hookpost.events.v1';
const JOBS_TOPIC = 'hookpost.delivery-jobs.v1';

const DOMAIN_LIBRARY = '@hookpost/domain';
interface DomainLibrary {
  SubscriptionCatalog: new () => { put(id: string, state: unknown): unknown };
  SubscriptionIndex: new () => { update(change: unknown): void; match(event: unknown): unknown[] };
  matchable: (state: unknown) => unknown;
}

const perOrg = Math.ceil(SUBSCRIPTIONS / ORGANIZATIONS);
const orgId = (o: number) => `org_BENCH${String(o).padStart(21, '0')}`;
const domainOf = (o: number, s: number) => `d${s}.o${o}.bench.example`;
const TYPES = ['message.delivered', 'message.bounced', 'message.opened', 'message.clicked'];

/**
 * A realistic mix per organisation: two unscoped subscriptions (one to every message
 * event, one to failures) and the rest scoped to one sending domain each, with secrets,
 * URLs and headers of real size.
 */
function subscriptionState(n: number) {
  const o = n % ORGANIZATIONS;
  const s = Math.floor(n / ORGANIZATIONS);
  const now = new Date().toISOString();
  const events =
    s === 0 ? ['message.*'] : s === 1 ? ['message.bounced', 'message.complained'] : [TYPES[s % 4]!];
  return {
    id: `wh_BENCH${String(n).padStart(22, '0')}`,
    organizationId: orgId(o),
    url: `https://hooks.customer-${o}.example/webhooks/${s}`,
    events,
    scope: { domains: s < 2 ? [] : [domainOf(o, s)], mailboxes: [] },
    headers: s % 3 === 0 ? { 'X-Customer-Token': randomBytes(24).toString('base64') } : {},
    format: 'standard',
    description: `Subscription ${s} of organisation ${o}`,
    status: 'active',
    secret: `v1.bench.${randomBytes(12).toString('base64')}.${randomBytes(48).toString('base64')}.${randomBytes(16).toString('base64')}`,
    previousSecret: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    deleted: false,
  };
}

function canonicalEvent(i: number) {
  const o = i % ORGANIZATIONS;
  const s = 2 + (i % (perOrg - 2));
  const type = TYPES[i % 4]!;
  return {
    id: `evt_BENCH${String(i).padStart(21, '0')}`,
    type,
    organization_id: orgId(o),
    occurred_at: new Date().toISOString(),
    received_at: new Date().toISOString(),
    source: { format: 'canonical', id: `bench-${i}` },
    data: {
      message_id: `<bench-${i}@${domainOf(o, s)}>`,
      from: `news@${domainOf(o, s)}`,
      to: `reader${i}@example.org`,
      subject: 'x'.repeat(200),
    },
  };
}

function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** V8 heap and off-heap figures from the service's own metrics (prom-client defaults). */
async function heapOf(port: number): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const mb = (name: string) =>
    Math.round(Number(new RegExp(`^hookpost_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1e6);
  return {
    heap_total_mb: mb('nodejs_heap_size_total_bytes'),
    heap_used_mb: mb('nodejs_heap_size_used_bytes'),
    external_mb: mb('nodejs_external_memory_bytes'),
  };
}

async function lag(admin: ReturnType<Kafka['admin']>, groupId: string): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [EVENTS_TOPIC] });
  const ends = await admin.fetchTopicOffsets(EVENTS_TOPIC);
  let total = 0;
  for (const end of ends) {
    const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
    total += Number(end.high) - Math.max(0, Number(at));
  }
  return total;
}

async function main(): Promise<void> {
  exitOnSignals();
  build();
  const dataDir = `${ROOT}.data/bench-matcher-${process.pid}`;
  mkdirSync(dataDir, { recursive: true });
  const stack = await startStack({
    dataDir,
    kafkaPort: await freePort(),
    kafkaControllerPort: await freePort(),
    postgresPort: await freePort(),
  });
  const kafka = new Kafka({
    clientId: 'bench-matcher',
    brokers: stack.env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  let matcher: ReturnType<typeof spawn> | undefined;
  try {
    await admin.connect();
    await producer.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: STATE_TOPIC,
          numPartitions: 6,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
        { topic: EVENTS_TOPIC, numPartitions: 6 },
        { topic: JOBS_TOPIC, numPartitions: 6 },
      ],
    });

    say(`producing ${SUBSCRIPTIONS} subscription states`);
    for (let n = 0; n < SUBSCRIPTIONS; n += 2_000) {
      const messages = [];
      for (let k = n; k < Math.min(n + 2_000, SUBSCRIPTIONS); k++) {
        const state = subscriptionState(k);
        messages.push({ key: state.id, value: JSON.stringify(state) });
      }
      await producer.send({ topic: STATE_TOPIC, acks: -1, messages });
    }
    say(`producing a backlog of ${BACKLOG_EVENTS} canonical events`);
    for (let i = 0; i < BACKLOG_EVENTS; i += 2_000) {
      const messages = [];
      for (let k = i; k < Math.min(i + 2_000, BACKLOG_EVENTS); k++) {
        const event = canonicalEvent(k);
        messages.push({ key: event.data.message_id, value: JSON.stringify(event) });
      }
      await producer.send({ topic: EVENTS_TOPIC, acks: -1, messages });
    }

    // Cold start: process start to ready (the index holds every subscription).
    const port = await freePort();
    const logFile = `${dataDir}/matcher.log`;
    const started = performance.now();
    matcher = spawn(process.execPath, [...NODE_FLAGS, `${ROOT}apps/matcher/dist/main.js`], {
      env: {
        ...process.env,
        ...stack.env,
        ...SERVICE_ENV,
        NODE_ENV: 'production',
        PORT: String(port),
        LOG_LEVEL: 'info',
        KAFKA_TOPIC_PARTITIONS: '6',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    matcher.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    matcher.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const pid = matcher.pid!;
    let ready = false;
    while (!ready) {
      if (matcher.exitCode !== null) throw new Error(`matcher exited:\n${log}`);
      if (performance.now() - started > 120_000) throw new Error(`matcher not ready:\n${log}`);
      ready = await fetch(`http://127.0.0.1:${port}/health/ready`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (!ready) await sleep(20);
    }
    const coldStartMs = performance.now() - started;
    const indexLoadMs = Number(/"ms":(\d+),"message":"subscription index loaded"/.exec(log)?.[1]);
    const loaded = rssOf(pid);
    const heapAfterLoad = await heapOf(port);

    // End to end on one process (one core): drain the backlog into delivery jobs.
    const drainStart = performance.now();
    while ((await lag(admin, 'hookpost-matcher')) > 0) {
      if (performance.now() - drainStart > 300_000) throw new Error('backlog not drained');
      await sleep(100);
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const afterDrain = rssOf(pid);
    writeFileSync(logFile, log);

    // In process, one core: the index alone.
    // The built library (tools are checked apart from the libraries' sources).
    const domain = (await import(DOMAIN_LIBRARY)) as DomainLibrary;
    const catalog = new domain.SubscriptionCatalog();
    const index = new domain.SubscriptionIndex();
    for (let n = 0; n < SUBSCRIPTIONS; n++) {
      const state = subscriptionState(n);
      const change = catalog.put(state.id, domain.matchable(state));
      if (change) index.update(change);
    }
    const events = Array.from({ length: 10_000 }, (_, i) => canonicalEvent(i));
    let matched = 0;
    const matchStart = performance.now();
    for (let i = 0; i < IN_PROCESS_MATCHES; i++) {
      matched += index.match(events[i % events.length]!).length;
    }
    const matchSeconds = (performance.now() - matchStart) / 1000;

    const results = {
      date: new Date().toISOString(),
      command: 'npm run bench:matcher',
      node_flags: NODE_FLAGS.join(' '),
      machine: `${process.platform} ${process.arch}, node ${process.version}`,
      subscriptions: SUBSCRIPTIONS,
      organizations: ORGANIZATIONS,
      cold_start_ms: Math.round(coldStartMs),
      index_load_ms: indexLoadMs,
      rss_mb_after_load: Math.round(loaded.rssMb),
      rss_mb_peak_load: Math.round(loaded.peakMb),
      rss_mb_peak: Math.round(afterDrain.peakMb),
      heap_after_load: heapAfterLoad,
      match_events_per_s_in_process: Math.round(IN_PROCESS_MATCHES / matchSeconds),
      matches_per_event: matched / IN_PROCESS_MATCHES,
      kafka_to_kafka_events_per_s: Math.round(BACKLOG_EVENTS / drainSeconds),
      targets: { cold_start_ms: 5_000, rss_mb: 256 },
    };
    const out = `${ROOT}bench/results/matcher-${results.date.slice(0, 10)}.json`;
    mkdirSync(`${ROOT}bench/results`, { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    const rows: Array<[string, string, string]> = [
      ['cold start (spawn to ready)', `${results.cold_start_ms} ms`, '< 5000 ms'],
      ['index load from state topic', `${results.index_load_ms} ms`, ''],
      ['resident memory after load', `${results.rss_mb_after_load} MB`, '< 256 MB'],
      ['peak resident memory, loading', `${results.rss_mb_peak_load} MB`, '< 256 MB'],
      ['peak resident memory, draining', `${results.rss_mb_peak} MB`, '< 256 MB'],
      [
        'heap total / used / external',
        `${heapAfterLoad.heap_total_mb} / ${heapAfterLoad.heap_used_mb} / ${heapAfterLoad.external_mb} MB`,
        '',
      ],
      ['match, in process, 1 core', `${results.match_events_per_s_in_process} events/s`, ''],
      ['matches per event', `${results.matches_per_event}`, ''],
      ['Kafka to Kafka, 1 process', `${results.kafka_to_kafka_events_per_s} events/s`, ''],
    ];
    process.stdout.write(
      `\nmatcher with ${SUBSCRIPTIONS} subscriptions, ${ORGANIZATIONS} organisations\n` +
        rows.map(([k, v, t]) => `  ${k.padEnd(32)} ${v.padStart(18)}  ${t}`).join('\n') +
        `\n\nwritten to ${out}\n`,
    );
  } finally {
    matcher?.kill('SIGTERM');
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await stack.stop();
    stack.purge();
  }
}

await main();
