import {
  freePort,
  REPO_ROOT,
  startService,
  type RunningService,
  type ServiceName,
} from '@hookpost/testing';
import { TOPICS, viewConsumerGroupPrefix } from '@hookpost/contracts';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The whole pipeline as real processes against the broker and database the test run
 * provides (KAFKA_BROKERS, DATABASE_URL): migrations, then the four services.
 */
export interface Pipeline {
  apiUrl: string;
  /** host:port of the gRPC API. */
  grpcAddress: string;
  adminToken: string;
  brokers: string;
  services: Record<ServiceName, RunningService>;
  logDir: string;
  /** Stops one service with `signal` (SIGKILL for a crash) and starts it again. */
  restart(
    name: ServiceName,
    signal?: NodeJS.Signals,
    envOverrides?: Record<string, string>,
  ): Promise<RunningService>;
  stop(): Promise<void>;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with npm test`);
  return value;
}

export async function startPipeline(extraEnv: Record<string, string> = {}): Promise<Pipeline> {
  const brokers = requireEnv('KAFKA_BROKERS');
  const adminToken = randomBytes(32).toString('base64url');
  const logDir = `${requireEnv('HOOKPOST_TEST_DIR')}/logs-${Date.now()}`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    KAFKA_BROKERS: brokers,
    DATABASE_URL: requireEnv('DATABASE_URL'),
    ADMIN_TOKEN: adminToken,
    SECRET_ENCRYPTION_KEY: `test:${randomBytes(32).toString('base64')}`,
    ALLOW_HTTP_ENDPOINTS: 'true',
    ENDPOINT_ALLOWED_NETWORKS: '127.0.0.1/32',
    KAFKA_TOPIC_PARTITIONS: '3',
    GRPC_PORT: String(await freePort()),
    ...extraEnv,
  };
  const migrate = spawnSync(
    process.execPath,
    [`${REPO_ROOT}apps/subscription-api/dist/migrate.js`],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  );
  if (migrate.status !== 0)
    throw new Error(`migrations failed: ${migrate.stderr}${migrate.stdout}`);

  const names: ServiceName[] = ['subscription-api', 'event-ingest', 'matcher', 'deliverer'];
  const results = await Promise.allSettled(
    names.map(async (name) => startService(name, env, { port: await freePort(), logDir })),
  );
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    // Leave nothing running behind a failed start.
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  const services = Object.fromEntries(started.map((s) => [s.name, s])) as Record<
    ServiceName,
    RunningService
  >;
  const running = new Set(started);
  return {
    apiUrl: `http://127.0.0.1:${services['subscription-api'].port}`,
    grpcAddress: `127.0.0.1:${env.GRPC_PORT}`,
    adminToken,
    brokers,
    services,
    logDir,
    async restart(name, signal = 'SIGTERM', envOverrides = {}) {
      const old = services[name];
      await old.stop(signal);
      running.delete(old);
      const fresh = await startService(
        name,
        { ...env, ...envOverrides },
        { port: old.port, logDir },
      );
      running.add(fresh);
      services[name] = fresh;
      return fresh;
    },
    async stop() {
      await Promise.all([...running].map((s) => s.stop()));
    },
  };
}

/** A new organisation (through the operator API) and an organisation-wide API key for it. */
export async function tenant(
  pipeline: Pick<Pipeline, 'apiUrl' | 'adminToken'>,
  name: string,
  domains: string[] = [],
): Promise<{ organizationId: string; apiKey: string }> {
  const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
    name,
    domains,
  });
  if (org.status !== 201) throw new Error(`creating ${name} failed: ${JSON.stringify(org.json)}`);
  const organizationId = org.json.id as string;
  const key = await http(
    'POST',
    `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
    pipeline.adminToken,
  );
  return { organizationId, apiKey: key.json.key as string };
}

/**
 * Produces many messages through one kcat process: one message per line, the key before
 * a tab. Values must be single-line (compact JSON is). kcat runs beside the test, not in
 * its place: a synchronous run would hold up the test's own receiver meanwhile.
 */
export function kcatProduceMany(
  brokers: string,
  topic: string,
  messages: Array<{ key: string; value: string }>,
): Promise<void> {
  return runKcat(
    ['-P', '-b', brokers, '-t', topic, '-K', '\t'],
    messages.map((m) => `${m.key}\t${m.value}`).join('\n') + '\n',
    60_000,
  );
}

/** kcat with `input` on its standard input; rejects with its error output if it fails. */
function runKcat(args: string[], input: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(requireEnv('KCAT'), args, { timeout: timeoutMs }, (error, _, stderr) =>
      error ? reject(new Error(`kcat ${args.join(' ')}: ${error.message} ${stderr}`)) : resolve(),
    );
    child.stdin!.end(input);
  });
}

/**
 * A canonical `message.delivered` mail event, keyed by its id, as a mail server sends it;
 * `overrides` replace its top-level fields (another type, a bad date).
 */
export function deliveredEvent(
  id: string,
  organizationId: string,
  data: Record<string, unknown> = { message_id: id },
  overrides: Record<string, unknown> = {},
): { key: string; value: string } {
  return {
    key: id,
    value: JSON.stringify({
      id,
      type: 'message.delivered',
      organization_id: organizationId,
      occurred_at: new Date().toISOString(),
      data,
      ...overrides,
    }),
  };
}

/** Produces messages with kcat, a librdkafka client none of us wrote. */
export async function kcatProduce(
  brokers: string,
  topic: string,
  messages: Array<{ key: string; value: string; headers?: Record<string, string> }>,
): Promise<void> {
  for (const message of messages) {
    const headerArgs = Object.entries(message.headers ?? {}).flatMap(([k, v]) => [
      '-H',
      `${k}=${v}`,
    ]);
    await runKcat(
      ['-P', '-b', brokers, '-t', topic, '-k', message.key, ...headerArgs],
      message.value,
      30_000,
    );
  }
}

/**
 * The live view groups of `services` that have not committed (their views commit what they
 * have applied) everything the subscription-state topic holds now, and a line for each
 * service with no live view at all.
 */
export async function viewsBehind(admin: Admin, services: string[]): Promise<string[]> {
  const ends = (await admin.fetchTopicOffsets(TOPICS.subscriptionState)).filter(
    (p) => BigInt(p.high) > BigInt(p.low),
  );
  const named = (await admin.listGroups()).groups
    .map((g) => g.groupId)
    .filter((id) => services.some((service) => id.startsWith(viewConsumerGroupPrefix(service))));
  const live = (await admin.describeGroups(named)).groups
    .filter((g) => g.members.length > 0)
    .map((g) => g.groupId);
  const behind = services
    .filter((service) => !live.some((id) => id.startsWith(viewConsumerGroupPrefix(service))))
    .map((service) => `${service}: no live view`);
  for (const groupId of live) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [TOPICS.subscriptionState] });
    const short = ends.filter((end) => {
      const offset = committed?.partitions.find((p) => p.partition === end.partition)?.offset;
      return BigInt(offset ?? -1) < BigInt(end.high);
    });
    if (short.length > 0) behind.push(`${groupId} (partitions ${short.map((p) => p.partition)})`);
  }
  return behind;
}

/**
 * Waits until every matcher and deliverer has applied every subscription change made so
 * far: what a test needs before it sends events for a subscription it just made or changed.
 */
export async function untilViewsHaveChanges(
  pipeline: Pick<Pipeline, 'brokers'>,
  timeoutMs = 20_000,
): Promise<void> {
  const admin = kafkaClient(pipeline.brokers, 'e2e-views').admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = await viewsBehind(admin, ['matcher', 'deliverer']);
      if (behind.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`views behind after ${timeoutMs} ms: ${behind.join('; ')}`);
      await sleep(50);
    }
  } finally {
    await admin.disconnect();
  }
}

export async function http(
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Reads every message of a topic with kcat (value, key and headers), stopping at its end. */
export function kcatConsume(
  brokers: string,
  topic: string,
): Array<{ key: string; value: string; headers: Record<string, string> }> {
  const out = execFileSync(
    requireEnv('KCAT'),
    ['-C', '-b', brokers, '-t', topic, '-o', 'beginning', '-e', '-q', '-J'],
    { encoding: 'utf8', timeout: 30_000, maxBuffer: 512 * 1024 * 1024 },
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const record = JSON.parse(line) as {
        key: string | null;
        payload: string | null;
        headers?: string[];
      };
      const headers: Record<string, string> = {};
      const list = record.headers ?? [];
      for (let i = 0; i + 1 < list.length; i += 2) headers[list[i]!] = list[i + 1]!;
      return { key: record.key ?? '', value: record.payload ?? '', headers };
    });
}

export interface TopicMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

/** A quiet kafkajs client of the test's own, on the pipeline's brokers. */
export function kafkaClient(brokers: string, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING });
}

/**
 * Reads a topic from the beginning with kafkajs until `enough` holds for what was read,
 * and then on to the end the topic had at that moment (so that late copies are counted
 * too); or until the timeout, with what was read by then.
 */
export async function readTopic(
  brokers: string,
  topic: string,
  enough: (messages: TopicMessage[]) => boolean,
  timeoutMs: number,
): Promise<TopicMessage[]> {
  const kafka = kafkaClient(brokers, 'e2e-reader');
  const admin = kafka.admin();
  const consumer = kafka.consumer({
    groupId: `e2e-reader-${randomBytes(6).toString('hex')}`,
    maxWaitTimeInMs: 200,
  });
  const messages: TopicMessage[] = [];
  const reached = new Map<number, bigint>();
  let ends: Map<number, bigint> | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const atEnds = () =>
    ends !== undefined &&
    [...ends].every(([partition, end]) => (reached.get(partition) ?? -1n) + 1n >= end);
  await admin.connect();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(m.headers ?? {}))
          headers[name] = Array.isArray(value) ? String(value[0]) : String(value ?? '');
        messages.push({
          key: m.key?.toString() ?? '',
          value: m.value ?? Buffer.alloc(0),
          headers,
          partition: batch.partition,
          offset: m.offset,
        });
        reached.set(batch.partition, BigInt(m.offset));
      }
      if (!ends && enough(messages)) {
        ends = new Map(
          (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]),
        );
      }
      if (atEnds()) finish();
    },
  });
  const timer = setTimeout(finish, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  await admin.disconnect();
  return messages;
}

/** Log lines that mean a service crashed, or restarted a consumer after a failure. */
const CRASH_LINES =
  /"level":"fatal"|uncaught exception|unhandled rejection|consumer failed; restarting|consumer crashed/;

/**
 * What a test needs to tell that no service fell over: each one's process id, whether it
 * still runs, what its health endpoints answer, and any crash lines in its log.
 */
export async function serviceHealth(pipeline: Pick<Pipeline, 'services'>): Promise<
  Array<{
    name: ServiceName;
    pid: number | undefined;
    running: boolean;
    live: number;
    ready: number;
    crashLines: string[];
  }>
> {
  const status = (port: number, path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.status,
      () => 0,
    );
  return Promise.all(
    Object.values(pipeline.services).map(async (service) => ({
      name: service.name,
      pid: service.process.pid,
      running: service.process.exitCode === null && service.process.signalCode === null,
      live: await status(service.port, '/health/live'),
      ready: await status(service.port, '/health/ready'),
      crashLines: readFileSync(service.logFile, 'utf8')
        .split('\n')
        .filter((line) => CRASH_LINES.test(line))
        .map((line) => line.slice(0, 300)),
    })),
  );
}
