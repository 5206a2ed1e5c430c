import { HEADERS, TOPICS, type RejectReason } from '@hookpost/contracts';
import {
  KafkaProducer,
  toIncoming,
  type IncomingMessage,
  type Logger,
  type OutgoingMessage,
} from '@hookpost/platform';
import type { Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';

/** How long a run waits for the next batch of letters before it gives up. */
const IDLE_LIMIT_MS = 30_000;

/** The headers a dead letter adds to the raw message it holds (deadLetter). */
const ADDED_HEADERS = new Set<string>([
  HEADERS.rejectReason,
  HEADERS.rejectDetail,
  HEADERS.sourceTopic,
  HEADERS.sourcePartition,
  HEADERS.sourceOffset,
  HEADERS.originalBytes,
]);

/**
 * The raw message a dead letter holds, as `mail-events` received it: its key, value and
 * headers, without those the dead letter added. Undefined for a letter whose value was cut
 * to fit the dead-letter topic: the whole message is only on `mail-events`, at the source
 * offset, and is not re-driven from here.
 */
export function originalOf(letter: IncomingMessage): OutgoingMessage | undefined {
  if (letter.headers[HEADERS.originalBytes] !== undefined) return undefined;
  const headers = Object.fromEntries(
    Object.entries(letter.headers).filter(([name]) => !ADDED_HEADERS.has(name)),
  );
  return {
    topic: TOPICS.mailEvents,
    key: letter.key?.toString() ?? null,
    value: letter.value ?? Buffer.alloc(0),
    headers,
  };
}

export interface RedriveOptions {
  /** The reasons whose letters go back: those a change of configuration has fixed. */
  reasons: ReadonlySet<RejectReason>;
  /** Letters dead-lettered from then on (ms since the epoch); the whole topic if absent. */
  since?: number;
  /** Letters dead-lettered before then (ms); those there when the run starts if absent. */
  until?: number;
  /** Count what would go back, and send nothing. */
  dryRun: boolean;
}

export interface RedriveReport {
  /** Letters read: every one on the topic in the window, of any reason. */
  read: number;
  /** Sent back to `mail-events` (or, in a dry run, that would be), by reason. */
  redriven: Partial<Record<string, number>>;
  /** Left for another reason than those asked for. */
  otherReasons: number;
  /**
   * Letters of a reason asked for whose value was cut to fit the topic: where the whole
   * raw message is on `mail-events`, to re-produce by hand while it is kept there.
   */
  cut: Array<{ partition: string; offset: string }>;
  dryRun: boolean;
}

/**
 * Sends dead-lettered raw mail events back to `mail-events`, for event-ingest to take them
 * again, once what refused them is fixed: an organisation created, a domain registered.
 * Reads `hookpost.mail-events.dlq.v1` from the first letter of the window to the end it
 * had when the run started, with a group of its own, deleted after. A letter sent back
 * twice (the command run twice) is one event: ingest drops repeats within DEDUPE_WINDOW.
 * One it still refuses is dead-lettered again.
 */
export async function redriveDeadLetters(
  kafka: Kafka,
  logger: Logger,
  options: RedriveOptions,
): Promise<RedriveReport> {
  const topic = TOPICS.mailEventsDeadLetter;
  const report: RedriveReport = {
    read: 0,
    redriven: {},
    otherReasons: 0,
    cut: [],
    dryRun: options.dryRun,
  };
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `hookpost-redrive-${randomUUID()}`;
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const starts =
      options.since === undefined
        ? ends.map(({ partition, low }) => ({ partition, offset: low }))
        : await admin.fetchTopicOffsetsByTimestamp(topic, options.since);
    // From each partition's first letter in the window to its end now.
    const todo = new Map<number, { from: string; last: bigint }>();
    for (const { partition, high } of ends) {
      const start = starts.find((s) => s.partition === partition)?.offset ?? high;
      // No letter at or after `since` here: the broker answers -1.
      const from = start === '-1' ? high : start;
      if (BigInt(from) < BigInt(high)) todo.set(partition, { from, last: BigInt(high) - 1n });
    }
    if (todo.size === 0) return report;

    const producer = new KafkaProducer(kafka, logger);
    if (!options.dryRun) await producer.connect();
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
    let idle: NodeJS.Timeout | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      let progressAt = Date.now();
      const finished = new Promise<void>((resolve, reject) => {
        consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
        // Nothing read for this long, with letters still to read: say so, do not hang.
        idle = setInterval(() => {
          if (Date.now() - progressAt < IDLE_LIMIT_MS) return;
          reject(
            new Error(
              `no dead letter read for ${IDLE_LIMIT_MS / 1000} s; partitions left: ${[...todo.keys()].join(', ')}`,
            ),
          );
        }, 1_000);
        consumer
          .run({
            eachBatchAutoResolve: true,
            eachBatch: async ({ batch }) => {
              progressAt = Date.now();
              const range = todo.get(batch.partition);
              if (!range) return;
              const back: OutgoingMessage[] = [];
              for (const message of batch.messages) {
                if (BigInt(message.offset) > range.last) break;
                const letter = toIncoming(topic, batch.partition, message);
                report.read++;
                if (options.until !== undefined && letter.timestamp >= options.until) continue;
                const reason = letter.headers[HEADERS.rejectReason] as RejectReason | undefined;
                if (!reason || !options.reasons.has(reason)) {
                  report.otherReasons++;
                  continue;
                }
                const original = originalOf(letter);
                if (!original) {
                  report.cut.push({
                    partition: letter.headers[HEADERS.sourcePartition] ?? '?',
                    offset: letter.headers[HEADERS.sourceOffset] ?? '?',
                  });
                  continue;
                }
                back.push(original);
                report.redriven[reason] = (report.redriven[reason] ?? 0) + 1;
              }
              if (!options.dryRun) await producer.send(back);
              if (BigInt(batch.lastOffset()) >= range.last) {
                todo.delete(batch.partition);
                consumer.pause([{ topic, partitions: [batch.partition] }]);
                if (todo.size === 0) resolve();
              }
            },
          })
          .catch(reject);
      });
      for (const [partition, { from }] of todo) consumer.seek({ topic, partition, offset: from });
      await finished;
    } finally {
      clearInterval(idle);
      await consumer.disconnect();
      if (!options.dryRun) await producer.disconnect();
    }
    return report;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
