// First: some fixes must be in place before kafkajs loads its producer.
import './kafkajs-fixes.js';
import kafkajs, {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type ConsumerRunConfig,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type OffsetsByTopicPartition,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { Gauge } from 'prom-client';
import type { Logger } from '../logging/logger.js';
import { groupLagWatcher, type GroupLagWatcher } from './group-lag.js';
import { keyHashPartitioner } from './partitioner.js';
import { socketFactory } from './socket.js';

/**
 * The one place that knows kafkajs. kafkajs is unmaintained since 2023, so the rest of
 * the code sees only these small types and could move to another client by changing
 * this file alone.
 */

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl?: {
    mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    username: string;
    password: string;
  };
}

export interface TopicSpec {
  topic: string;
  /** Overrides the default partition count. */
  partitions?: number;
  /** Topic-level configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

export interface OutgoingMessage {
  topic: string;
  key: string | null;
  value: Buffer | string;
  headers?: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Producer or broker time, milliseconds since the epoch. */
  timestamp: number;
}

const KAFKAJS_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(settings: KafkaSettings, logger: Logger): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    socketFactory,
    sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        // kafkajs reports routine rebalances as errors; keep them but do not shout.
        kafkaLogger[KAFKAJS_LEVELS[level] ?? 'info'](
          { ...extra, kafkaNamespace: log['namespace'] },
          message,
        );
      },
  });
}

/** A topic's `retention.ms`, as TopicSpec config. */
export function retention(ms: number): Record<string, string> {
  return { 'retention.ms': String(ms) };
}

/**
 * Creates missing topics; existing ones are left as they are. Several services may do
 * this at the same moment, so "already exists" is success, and leadership is awaited by
 * polling metadata (kafkajs's own `waitForLeaders` can throw outside the promise chain
 * when another client created the topic first).
 */
export async function ensureTopics(
  kafka: Kafka,
  specs: TopicSpec[],
  defaults: { partitions: number; replicationFactor: number },
  logger: Logger,
): Promise<void> {
  if (defaults.partitions === 0) return; // topics are managed outside (e.g. Strimzi KafkaTopic)
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: false,
          topics: missing.map((spec) => ({
            topic: spec.topic,
            numPartitions: spec.partitions ?? defaults.partitions,
            replicationFactor: defaults.replicationFactor,
            configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({
              name,
              value,
            })),
          })),
        });
        logger.info({ topics: missing.map((spec) => spec.topic) }, 'created topics');
      } catch (error) {
        if (!/already exists/i.test(describeKafkaError(error))) throw error;
      }
    }
    await waitForLeaders(
      admin,
      specs.map((spec) => spec.topic),
    );
  } finally {
    await admin.disconnect();
  }
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      if (
        metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      )
        return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`no leaders for ${topics.join(', ')} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function describeKafkaError(error: unknown): string {
  const { message, errors } = error as { message?: string; errors?: Array<{ message?: string }> };
  return [message, ...(errors ?? []).map((e) => e.message)].join('; ');
}

/** An admin client, connected on first use, and again on the next use after a failed connect. */
export class LazyAdmin {
  private admin: Promise<Admin> | undefined;

  constructor(private readonly kafka: Kafka) {}

  get(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (error: unknown) => {
          this.admin = undefined;
          throw error;
        },
      );
    }
    return this.admin;
  }

  async disconnect(): Promise<void> {
    const admin = await this.admin?.catch(() => undefined);
    this.admin = undefined;
    await admin?.disconnect();
  }
}

/**
 * High watermarks of every partition of a topic (the offset the next message will get).
 * Retried for a while: right after a topic is created, the broker may briefly answer
 * "not the leader", and kafkajs gives up on that at once.
 */
export async function highWatermarks(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): Promise<Map<number, bigint>> {
  const ranges = await offsetRanges(admin, topic, timeoutMs);
  return new Map([...ranges].map(([partition, { high }]) => [partition, high]));
}

/**
 * The end of each partition of `topic` that holds something to read: where a reader from
 * the start has read all of it. A partition whose records are all gone (retention, or
 * deleted records: its log start is its end) is left out, as nothing read from it would
 * ever reach its end.
 */
export async function readableEnds(
  admin: Admin,
  topic: string,
  timeoutMs = 30_000,
): Promise<Map<number, bigint>> {
  const ranges = await offsetRanges(admin, topic, timeoutMs);
  return new Map(
    [...ranges].filter(([, { low, high }]) => high > low).map(([p, { high }]) => [p, high]),
  );
}

async function offsetRanges(
  admin: Admin,
  topic: string,
  timeoutMs: number,
): Promise<Map<number, { low: bigint; high: bigint }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(
        offsets.map((p) => [p.partition, { low: BigInt(p.low), high: BigInt(p.high) }]),
      );
    } catch (error) {
      if (Date.now() > deadline || (error as { retriable?: boolean }).retriable === false)
        throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function toHeaders(headers: Record<string, string> | undefined): IHeaders | undefined {
  return headers;
}

function fromHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const single = Array.isArray(value) ? value[value.length - 1] : value;
    if (single !== undefined) out[name] = single.toString();
  }
  return out;
}

export function toIncoming(
  topic: string,
  partition: number,
  message: KafkaMessage,
): IncomingMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: fromHeaders(message.headers),
    timestamp: Number(message.timestamp),
  };
}

/**
 * Bytes per produce request, well under the brokers' default max.message.bytes (1 MB). A
 * topic's share of a request is bounded by its own limit too (produceChunks).
 */
const MAX_REQUEST_BYTES = 512 * 1024;

/** Kafka's default `message.max.bytes`: a topic takes record batches up to this size. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * The largest record batch `topic` accepts (its `max.message.bytes`, which the broker's
 * `message.max.bytes` sets unless the topic overrides it). Topics may be managed outside
 * Hookpost with any limit, so it is read, not assumed; where the cluster refuses to say
 * (no DescribeConfigs right), Kafka's default is taken.
 */
export async function topicMessageLimit(
  kafka: Kafka,
  topic: string,
  logger: Logger,
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: topic,
          configNames: ['max.message.bytes'],
        },
      ],
    });
    const value = resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes');
    const limit = Number(value?.configValue);
    if (Number.isSafeInteger(limit) && limit > 0) return limit;
    throw new Error(`max.message.bytes of ${topic} reads ${String(value?.configValue)}`);
  } catch (error) {
    logger.warn(
      { topic, error: describeKafkaError(error), assumed: DEFAULT_MAX_MESSAGE_BYTES },
      "could not read the topic's max.message.bytes; assuming Kafka's default",
    );
    return DEFAULT_MAX_MESSAGE_BYTES;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Room a record batch needs beyond its records: the batch's own 61 bytes and, for a batch
 * of one record, that record's varints, with plenty to spare.
 */
const BATCH_OVERHEAD_BYTES = 1024;
/** A header's two length varints, at most 10 bytes, with room to spare. */
const HEADER_OVERHEAD_BYTES = 16;
/**
 * A record's fields beyond its key, value and headers, at most 36 bytes: its attributes
 * byte and six varints (its length, offset delta, key, value and header-count lengths, 5
 * bytes each at most, and its timestamp delta, 10).
 */
const RECORD_OVERHEAD_BYTES = 36;

/**
 * At most the bytes of a record batch holding `message` alone: what a topic's
 * `max.message.bytes` (topicMessageLimit) is compared with. A message over it is refused
 * by the broker, and the send that carries it fails every time.
 */
export function batchBytesOf(message: OutgoingMessage): number {
  const headers = Object.keys(message.headers ?? {}).length;
  return sizeOf(message) + BATCH_OVERHEAD_BYTES + headers * HEADER_OVERHEAD_BYTES;
}

/** A message's bytes as a record counts them: key, value, header names and values. */
export function sizeOf(message: OutgoingMessage): number {
  const bytes = (value: string | Buffer | null) =>
    value === null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  let size = bytes(message.key) + bytes(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    size += bytes(name) + bytes(value);
  }
  return size;
}

/** At most the bytes `message` adds to a record batch it shares with others. */
function recordBytesOf(message: OutgoingMessage): number {
  const headers = message.headers ? Object.keys(message.headers).length : 0;
  return sizeOf(message) + RECORD_OVERHEAD_BYTES + headers * HEADER_OVERHEAD_BYTES;
}

/**
 * `messages`, in order, cut into the produce requests that carry them. kafkajs writes a
 * request's messages for one partition as one record batch, and a broker refuses a batch
 * over its topic's max.message.bytes (`limitOf`, topicMessageLimit): on every try, so the
 * consumer whose output it is would retry for ever. The partitions are chosen inside
 * kafkajs (keyHashPartitioner), so a topic's bytes in a request are kept within its limit:
 * a partition's batch holds at most those. A message over its topic's limit by itself is
 * sent all the same, and refused: its sender keeps such messages out (batchBytesOf).
 */
export function produceChunks(
  messages: OutgoingMessage[],
  limitOf: (topic: string) => number,
): OutgoingMessage[][] {
  const chunks: OutgoingMessage[][] = [];
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  const topicBytes = new Map<string, number>();
  for (const message of messages) {
    const size = recordBytesOf(message);
    let inTopic = topicBytes.get(message.topic) ?? 0;
    if (
      chunk.length > 0 &&
      (bytes + size > MAX_REQUEST_BYTES ||
        (inTopic > 0 && inTopic + size > limitOf(message.topic) - BATCH_OVERHEAD_BYTES))
    ) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
      inTopic = 0;
      topicBytes.clear();
    }
    chunk.push(message);
    bytes += size;
    topicBytes.set(message.topic, inTopic + size);
  }
  chunks.push(chunk);
  return chunks;
}

/** Whether a send failed because the broker refused a record batch as too large. */
function refusedAsTooLarge(error: unknown): boolean {
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e.type === 'MESSAGE_TOO_LARGE') return true;
  return false;
}

/**
 * Sends with acks from all in-sync replicas. One `send` call carries every message of
 * a batch (kafkajs has no linger: an awaited send per message is a round trip each).
 */
export class KafkaProducer {
  private readonly producer: Producer;
  private connected = false;
  /** The max.message.bytes of each topic sent to, read at its first send (produceChunks). */
  private readonly limits = new Map<string, number>();
  private readonly reading = new Map<string, Promise<void>>();
  /** Kafka's default for a topic whose limit is being read again (see sendChunk). */
  private readonly limitOf = (topic: string): number =>
    this.limits.get(topic) ?? DEFAULT_MAX_MESSAGE_BYTES;

  constructor(
    private readonly kafka: Kafka,
    private readonly logger: Logger,
  ) {
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: keyHashPartitioner,
    });
    this.producer.on(this.producer.events.CONNECT, () => (this.connected = true));
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connected = false));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.readLimits(messages);
    // Brokers refuse a record batch over its topic's max.message.bytes: many messages, or
    // large ones (dead letters of oversized events), go in several requests.
    for (const chunk of produceChunks(messages, this.limitOf)) await this.sendChunk(chunk);
  }

  /** Reads the limits of the topics of `messages` not known yet; concurrent sends share a read. */
  private async readLimits(messages: OutgoingMessage[]): Promise<void> {
    let unknown: Set<string> | undefined;
    for (const { topic } of messages)
      if (!this.limits.has(topic)) (unknown ??= new Set()).add(topic);
    if (!unknown) return;
    await Promise.all(
      [...unknown].map((topic) => {
        let reading = this.reading.get(topic);
        if (!reading) {
          reading = topicMessageLimit(this.kafka, topic, this.logger)
            .then((limit) => void this.limits.set(topic, limit))
            .finally(() => this.reading.delete(topic));
          this.reading.set(topic, reading);
        }
        return reading;
      }),
    );
  }

  private async sendChunk(messages: OutgoingMessage[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const message of messages) {
      const list = byTopic.get(message.topic);
      if (list) list.push(message);
      else byTopic.set(message.topic, [message]);
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((m) => ({
            key: m.key,
            value: m.value,
            headers: toHeaders(m.headers),
          })),
        })),
      });
    } catch (error) {
      // A topic's limit may have been lowered since it was read: the next try reads again.
      if (refusedAsTooLarge(error)) for (const topic of byTopic.keys()) this.limits.delete(topic);
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

const consumerLag = new Gauge({
  name: 'hookpost_kafka_consumer_lag',
  help: 'Messages between what a consumer group has taken from a partition and its end',
  labelNames: ['group', 'topic', 'partition'],
});

/** The partitions each group has reported lag for in this process. */
const lagReported = new Map<string, Map<string, { topic: string; partition: number }>>();

/** Reports a group's lag on one partition from a fetched batch's high watermark. */
export function reportLag(
  group: string,
  topic: string,
  partition: number,
  highWatermark: string,
  nextOffset: bigint,
): void {
  const lag = BigInt(highWatermark) - nextOffset;
  consumerLag.set({ group, topic, partition }, Number(lag > 0n ? lag : 0n));
  let reported = lagReported.get(group);
  if (!reported) lagReported.set(group, (reported = new Map()));
  reported.set(`${topic}:${partition}`, { topic, partition });
}

/**
 * Drops the lag this process reported for partitions it no longer holds (`assigned`, as a
 * group join hands them out; none when the consumer stops). A partition that moved to
 * another instance would otherwise keep its last value here forever, and the group's
 * summed lag would count it twice.
 */
export function forgetLag(group: string, assigned: Record<string, number[]> = {}): void {
  const reported = lagReported.get(group);
  if (!reported) return;
  for (const [key, { topic, partition }] of reported) {
    if (assigned[topic]?.includes(partition)) continue;
    consumerLag.remove({ group, topic, partition });
    reported.delete(key);
  }
}

/**
 * A handler's own error (a database away, a send that failed) is not a KafkaJS error, and
 * kafkajs would stop the consumer for good on it. Rethrown as retriable, the batch is
 * retried with backoff and, if it keeps failing, the consumer restarts: nothing is
 * committed past it either way.
 */
export function retriable(error: unknown): Error {
  // Not a named ESM export: kafkajs builds its exports object by spreading, which Node's
  // CommonJS export detection cannot see.
  return new kafkajs.KafkaJSError(error instanceof Error ? error : String(error), {
    retriable: true,
  });
}

/** How long a consumer waits before it rejoins after losing every broker. */
const BROKER_AWAY_RETRY_MS = 2_000;

/**
 * Whether an error only says the brokers could not be reached. kafkajs gives up on those
 * after its retries and reports them as not retriable ("Failed to find group coordinator",
 * a connection error), though a broker restart or fail-over lasting longer than the
 * retries is as passing as a shorter one.
 */
export function brokerUnreachable(error: unknown): boolean {
  for (
    let e = error as { name?: string; message?: string; cause?: unknown } | undefined;
    e;
    e = e.cause as typeof e
  )
    if (BROKER_UNREACHABLE.has(e.name ?? '') || e.message === BROKER_NOT_CONNECTED) return true;
  return false;
}
/**
 * Not a KafkaJSError but a plain Error: kafkajs throws it for a request to a broker whose
 * connection was just dropped (a metadata refresh racing a broker restart).
 */
const BROKER_NOT_CONNECTED = 'Broker not connected';
const BROKER_UNREACHABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
]);

/**
 * What a crashed consumer does next. kafkajs restarts it itself after a retriable error.
 * After the brokers were unreachable for longer than its retries, `rejoin` starts it
 * again a moment later, for as long as it takes: the service rides out a broker restart
 * instead of exiting. Any other crash leaves the service alive but deaf: exit instead
 * (through the graceful shutdown), so that the orchestrator starts a fresh one.
 */
/**
 * A join, with how long it took: a member that stays unready (a join that waits on a
 * member gone without leaving, until its session times out) shows here.
 */
export function logGroupJoin(
  logger: Logger,
  join: { groupId: string; duration: number; memberAssignment: Record<string, number[]> },
): void {
  logger.info(
    {
      groupId: join.groupId,
      ms: join.duration,
      partitions: Object.values(join.memberAssignment).reduce((n, p) => n + p.length, 0),
    },
    'joined consumer group',
  );
}

export function onConsumerCrash(
  logger: Logger,
  groupId: string,
  payload: { error: Error; restart: boolean },
  rejoin: () => Promise<void>,
): void {
  if (payload.restart) {
    // Retriable errors are routine (a coordinator still loading as the broker starts, a
    // leader moving): kafkajs restarts the consumer itself. Said briefly, without a stack.
    if ((payload.error as { retriable?: boolean }).retriable === true)
      logger.info(
        { groupId, reason: describeKafkaError(payload.error) },
        'consumer restarting after a retriable error',
      );
    else logger.warn({ err: payload.error, groupId }, 'consumer failed; restarting it');
    return;
  }
  if (brokerUnreachable(payload.error)) {
    logger.warn(
      { err: payload.error, groupId, retryMs: BROKER_AWAY_RETRY_MS },
      'consumer lost the brokers; rejoining',
    );
    setTimeout(() => {
      rejoin().catch((error: unknown) =>
        onConsumerCrash(logger, groupId, { error: error as Error, restart: false }, rejoin),
      );
    }, BROKER_AWAY_RETRY_MS).unref();
    return;
  }
  logger.fatal({ err: payload.error, groupId }, 'consumer crashed and cannot restart; exiting');
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
}

export interface BatchContext {
  /** Keeps the group membership alive during long work. */
  heartbeat(): Promise<void>;
  isRunning(): boolean;
}

/**
 * What a handler did with a batch, when not all of it: the first `handled` messages are
 * done (their offsets commit) and the rest are not due before `resumeAt` (ms since the
 * epoch): the partition is paused until then instead of the handler sleeping, so the
 * consumer keeps its group membership. After a rebalance the rest is fetched again and
 * judged afresh.
 */
export interface PartialBatch {
  handled: number;
  resumeAt: number;
}

export type BatchHandler = (
  messages: IncomingMessage[],
  context: BatchContext,
) => Promise<void | PartialBatch>;

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  /** false for views that every process reads whole: nothing to resume from. */
  commit?: boolean;
  /**
   * Whether the group's lag is reported (as metrics), by default when it commits. Not for a
   * group per process: a series per restart.
   */
  lagMetrics?: boolean;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
  /** Partitions whose batches are handled at the same time (independent progress). */
  partitionsConsumedConcurrently?: number;
  /** Set for consumers nobody waits on: see GATHERED_FETCH. */
  gather?: { minBytes: number; maxWaitMs: number };
}

/**
 * Fetches for consumers that keep records customers read a moment later (the event and
 * attempt logs), on no delivery's path: the broker holds each fetch until 64 KiB have
 * gathered or 250 ms have passed. A busy topic then arrives in a few large batches a
 * second, each one fetch and one statement, instead of a batch of a few events per round
 * trip; a quiet one is at most 250 ms late, and polled four times a second.
 */
export const GATHERED_FETCH = { minBytes: 64 * 1024, maxWaitMs: 250 };

/** The least time between two commits of a committing consumer. */
const COMMIT_INTERVAL_MS = 200;
/** How long stopping waits for batches in progress, so that their offsets are committed. */
const STOP_GRACE_MS = 5_000;
/**
 * How long stopping waits for its last commit. kafkajs retries a failing commit for up to
 * half a minute; a service must exit within 10 s, and what stays uncommitted is repeated.
 */
const STOP_COMMIT_MS = 2_000;
/**
 * How long stopping waits for kafkajs to leave the group. Leaving queues behind a join in
 * progress (the broker answers one connection's requests in order), and after a broker
 * restart a join waits for the group's old members to rejoin or time out: up to their
 * session timeout, past a service's 10 s to exit. A member that did not leave has its
 * partitions handed on when its session times out instead of at once; what it had not
 * committed is repeated, never lost.
 */
const STOP_LEAVE_MS = 1_500;

/** Disconnects `consumer`, or gives up waiting after STOP_LEAVE_MS (see there). */
export async function leaveGroup(
  consumer: Consumer,
  groupId: string,
  logger: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_LEAVE_MS).unref();
  });
  const left = await Promise.race([consumer.disconnect(), late]);
  clearTimeout(timer);
  if (left === 'late')
    logger.warn(
      { groupId, waitedMs: STOP_LEAVE_MS },
      'stopped without leaving the consumer group (a join was in progress); the group drops this member when its session times out',
    );
}

/**
 * Consumes whole batches. The handler gets every message of a partition's batch; once it
 * returns, the batch is done and its offsets are committed: at once when the last commit
 * is COMMIT_INTERVAL_MS old, else when it is, and at stop. If it throws, nothing is
 * committed and kafkajs restarts the consumer, so the batch is seen again (at least once).
 *
 * kafkajs's autoCommit instead awaits a commit after every batch: a broker round trip per
 * partition per fetch. Here a quiet consumer still commits each batch right away, and a
 * busy one a few times a second, in the background; what a crash repeats is at most the
 * batches of the last interval.
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  private joined = false;
  private crashed = false;
  private stopped = false;
  private run: ConsumerRunConfig | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private lastCommitAt = 0;
  /** The running consumer's finished, uncommitted offsets (kafkajs's, of its generation). */
  private uncommitted: (() => OffsetsByTopicPartition) | undefined;
  private readonly inProgress = new Set<Promise<unknown>>();
  private committing: Promise<void> = Promise.resolve();
  /** The group's lag as the brokers see it (see BatchConsumerOptions.lagMetrics). */
  private readonly groupLag: GroupLagWatcher | undefined;
  private readonly lagMetrics: boolean;
  private joinedFirst: () => void = () => undefined;
  /** Settles when the consumer first joins its group. */
  readonly firstJoin = new Promise<void>((resolve) => (this.joinedFirst = resolve));

  constructor(
    kafka: Kafka,
    private readonly options: BatchConsumerOptions,
    private readonly logger: Logger,
  ) {
    this.lagMetrics = options.lagMetrics ?? options.commit ?? true;
    this.groupLag = this.lagMetrics ? groupLagWatcher(kafka, logger) : undefined;
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
      // Unless gathering, the broker answers a fetch as soon as anything arrives, and the
      // wait is how long it holds one while there is nothing new: it costs no latency,
      // and shorter waits only add idle polling.
      minBytes: options.gather?.minBytes ?? 1,
      maxWaitTimeInMs: options.gather?.maxWaitMs ?? 500,
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      logGroupJoin(this.logger, event.payload);
      this.joined = true;
      this.joinedFirst();
      this.crashed = false;
      // Offsets finished before the rebalance are not this generation's to commit.
      this.uncommitted = undefined;
      forgetLag(options.groupId, event.payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.crashed = !event.payload.restart;
      this.uncommitted = undefined;
      forgetLag(options.groupId);
      onConsumerCrash(this.logger, options.groupId, event.payload, async () => {
        if (!this.stopped && this.run) await this.consumer.run(this.run);
      });
    });
    this.consumer.on(this.consumer.events.STOP, () => {
      this.joined = false;
      forgetLag(options.groupId);
    });
  }

  /** Joined its group and not crashed for good. */
  get isReady(): boolean {
    return this.joined && !this.crashed;
  }

  async start(handler: BatchHandler): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: this.options.topics,
      fromBeginning: this.options.fromBeginning,
    });
    const commit = this.options.commit ?? true;
    this.run = {
      // Commits are this class's (see above).
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Each partition's batch waits on a produce round trip; one partition at a time would
      // add those up across partitions (the latency of a whole fetch cycle).
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 16,
      eachBatch: (payload) => {
        // Tracked whole, offsets resolved included, so that stop() can commit it.
        const work = this.handleBatch(payload, handler, commit);
        this.inProgress.add(work);
        return work.finally(() => this.inProgress.delete(work));
      },
    };
    await this.consumer.run(this.run);
    this.groupLag?.watch(this.options.groupId, this.options.topics);
  }

  private async handleBatch(
    {
      batch,
      resolveOffset,
      heartbeat,
      uncommittedOffsets,
      isRunning,
      isStale,
      pause,
    }: EachBatchPayload,
    handler: BatchHandler,
    commit: boolean,
  ): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    if (commit) this.uncommitted = uncommittedOffsets;
    const messages = batch.messages.map((m) => toIncoming(batch.topic, batch.partition, m));
    const partial = await handler(messages, { heartbeat, isRunning }).catch((error) => {
      throw retriable(error);
    });
    const handled = partial ? partial.handled : messages.length;
    if (handled > 0) resolveOffset(messages[handled - 1]!.offset);
    if (this.lagMetrics) {
      const next = BigInt(messages[Math.max(0, handled - 1)]!.offset) + (handled > 0 ? 1n : 0n);
      reportLag(this.options.groupId, batch.topic, batch.partition, batch.highWatermark, next);
    }
    if (commit && handled > 0) this.scheduleCommit();
    if (partial && handled < messages.length) {
      const resume = pause();
      setTimeout(resume, Math.max(0, partial.resumeAt - Date.now())).unref();
    }
    await heartbeat();
  }

  /**
   * Stops fetching, lets batches in progress finish (for up to STOP_GRACE_MS), commits
   * what finished and leaves the group: a restart or deploy repeats nothing.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.commitTimer);
    if (this.joined && (this.options.commit ?? true)) {
      this.consumer.pause(this.options.topics.map((topic) => ({ topic })));
      const grace = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
      await Promise.race([Promise.allSettled([...this.inProgress]), grace]);
      const late = new Promise((resolve) => setTimeout(resolve, STOP_COMMIT_MS).unref());
      await Promise.race([this.commit(), late]);
    }
    await this.groupLag?.unwatch(this.options.groupId);
    await leaveGroup(this.consumer, this.options.groupId, this.logger);
  }

  /** Commits what finished, now or once COMMIT_INTERVAL_MS has passed since the last. */
  private scheduleCommit(): void {
    if (this.commitTimer || this.stopped) return;
    const wait = Math.max(0, this.lastCommitAt + COMMIT_INTERVAL_MS - Date.now());
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.commit();
    }, wait).unref();
  }

  /** Commits after the commit in progress, if any: one at a time, the latest offsets each. */
  private commit(): Promise<void> {
    this.committing = this.committing.then(() => this.commitNow());
    return this.committing;
  }

  private async commitNow(): Promise<void> {
    this.lastCommitAt = Date.now();
    const offsets = (this.uncommitted?.().topics ?? []).flatMap(({ topic, partitions }) =>
      partitions.map(({ partition, offset }) => ({ topic, partition, offset })),
    );
    if (offsets.length === 0) return;
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (error) {
      // Tried again shortly. After a rebalance or crash there is nothing left to commit: the
      // partitions' owners start from the last commit and repeat the rest (at least once).
      this.logger.warn({ err: error, groupId: this.options.groupId }, 'offset commit failed');
      this.scheduleCommit();
    }
  }
}
