// First, as kafka.ts has it: some fixes must be in place before kafkajs loads its producer.
import './kafkajs-fixes.js';
import kafkajs, { type Kafka } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../logging/logger.js';
import {
  brokerUnreachable,
  DEFAULT_MAX_MESSAGE_BYTES,
  KafkaProducer,
  onConsumerCrash,
  produceChunks,
  type OutgoingMessage,
} from './kafka.js';
import { encodeProduceRequest } from './produce-request.js';

/** Which consumer crashes mean "the brokers are away" (rejoin later), not "exit". */
describe('brokerUnreachable', () => {
  it('knows kafkajs errors of brokers that could not be reached, also as a cause', () => {
    const refused = new kafkajs.KafkaJSConnectionError('connect ECONNREFUSED 127.0.0.1:9092');
    expect(brokerUnreachable(refused)).toBe(true);
    expect(brokerUnreachable(new Error('gave up after 8 retries', { cause: refused }))).toBe(true);
  });

  it("knows kafkajs's plain error for a request to a broker whose connection just dropped", () => {
    // Seen when a metadata refresh raced a broker restart (crash suite, 2026-12-02).
    expect(brokerUnreachable(new Error('Broker not connected'))).toBe(true);
  });

  it('does not take other failures for an absent broker', () => {
    expect(brokerUnreachable(new Error('Cannot read properties of undefined'))).toBe(false);
    expect(brokerUnreachable(new kafkajs.KafkaJSNonRetriableError('Invalid topic'))).toBe(false);
    expect(brokerUnreachable(undefined)).toBe(false);
  });
});

describe('onConsumerCrash', () => {
  function recorder() {
    const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
    const at =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        lines.push({ level, fields, message });
      };
    const logger = { info: at('info'), warn: at('warn'), fatal: at('fatal') } as unknown as Logger;
    return { lines, logger };
  }

  it('tells a routine restart briefly, and an unexpected one with its error', () => {
    const { lines, logger } = recorder();
    const loading = new kafkajs.KafkaJSProtocolError({
      message: "The coordinator is loading and hence can't process requests",
      type: 'COORDINATOR_LOAD_IN_PROGRESS',
      code: 14,
      retriable: true,
    } as unknown as string);
    onConsumerCrash(logger, 'group', { error: loading, restart: true }, () => Promise.resolve());
    const odd = new Error('handler failed');
    onConsumerCrash(logger, 'group', { error: odd, restart: true }, () => Promise.resolve());
    expect(lines).toEqual([
      {
        level: 'info',
        fields: { groupId: 'group', reason: expect.stringContaining('coordinator is loading') },
        message: 'consumer restarting after a retriable error',
      },
      {
        level: 'warn',
        fields: { err: odd, groupId: 'group' },
        message: 'consumer failed; restarting it',
      },
    ]);
  });
});

/** Small events with a key and a trace header, as the services send them. */
function events(topic: string, count: number, valueBytes = 200): OutgoingMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    topic,
    key: `sub_${i % 7}`,
    value: Buffer.alloc(valueBytes, i),
    headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
  }));
}

/** The bytes of a produce request carrying `messages` as one partition's record batch. */
function encodedBytes(topic: string, messages: OutgoingMessage[]): number {
  const body = encodeProduceRequest({
    acks: -1,
    timeout: 30_000,
    topicData: [{ topic, partitions: [{ partition: 0, messages }] }],
  });
  return body!.length;
}

describe('produceChunks', () => {
  it("keeps a topic's bytes in each request within its max.message.bytes", () => {
    // 300 KB of small events for a topic that takes batches of 200,000 bytes.
    const messages = events('small', 1_250);
    const chunks = produceChunks(messages, () => 200_000);
    expect(chunks.flat()).toEqual(messages);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      // The whole request, of which the record batch is a part, is within the limit.
      expect(encodedBytes('small', chunk)).toBeLessThanOrEqual(200_000);
    }
    for (const chunk of chunks.slice(0, -1))
      expect(encodedBytes('small', chunk)).toBeGreaterThan(100_000);
  });

  it("bounds each topic by its own limit, and a request by 512 KiB, in the messages' order", () => {
    const limits: Record<string, number> = { small: 200_000, large: DEFAULT_MAX_MESSAGE_BYTES };
    const small = events('small', 900);
    const large = events('large', 2_000);
    const messages = large.flatMap((m, i) => (i < small.length ? [small[i]!, m] : [m]));
    const chunks = produceChunks(messages, (topic) => limits[topic]!);
    expect(chunks.flat()).toEqual(messages);
    for (const chunk of chunks) {
      for (const topic of ['small', 'large']) {
        const mine = chunk.filter((m) => m.topic === topic);
        if (mine.length > 0)
          expect(encodedBytes(topic, mine)).toBeLessThanOrEqual(Math.min(limits[topic]!, 524_288));
      }
    }
  });

  it('leaves what fits in one request in one, and a message too large alone by itself', () => {
    const mixed = [...events('a', 500), ...events('b', 500)];
    expect(produceChunks(mixed, () => DEFAULT_MAX_MESSAGE_BYTES)).toEqual([mixed]);
    const [before, huge, after] = events('small', 3);
    const tooLarge = { ...huge!, value: Buffer.alloc(250_000) };
    expect(produceChunks([before!, tooLarge, after!], () => 200_000)).toEqual([
      [before!],
      [tooLarge],
      [after!],
    ]);
  });
});

describe('KafkaProducer', () => {
  /** A Kafka client whose admin answers `limits` and whose producer records its requests. */
  function fakeKafka(limits: Record<string, number>) {
    const reads: string[] = [];
    const requests: Array<Array<{ topic: string; messages: OutgoingMessage[] }>> = [];
    let refuse = 0;
    const kafka = {
      admin: () => ({
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        describeConfigs: ({ resources }: { resources: Array<{ name: string }> }) => {
          const topic = resources[0]!.name;
          reads.push(topic);
          return Promise.resolve({
            resources: [
              {
                configEntries: [
                  { configName: 'max.message.bytes', configValue: String(limits[topic]) },
                ],
              },
            ],
          });
        },
      }),
      producer: () => ({
        events: { CONNECT: 'connect', DISCONNECT: 'disconnect' },
        on: () => undefined,
        sendBatch: ({
          topicMessages,
        }: {
          topicMessages: Array<{ topic: string; messages: OutgoingMessage[] }>;
        }) => {
          if (refuse > 0) {
            refuse -= 1;
            // As kafkajs reports it: the broker's error, not wrapped (it is not retriable).
            return Promise.reject(
              new kafkajs.KafkaJSProtocolError({
                message: 'The request included a message larger than the max message size',
                type: 'MESSAGE_TOO_LARGE',
                code: 10,
                retriable: false,
              } as unknown as string),
            );
          }
          requests.push(topicMessages);
          return Promise.resolve([]);
        },
      }),
    } as unknown as Kafka;
    return { kafka, reads, requests, refuseNext: () => void (refuse += 1) };
  }

  const logger = pino({ level: 'silent' }) as unknown as Logger;

  it("splits by each topic's limit, read once for all sends", async () => {
    const { kafka, reads, requests } = fakeKafka({ small: 200_000, large: 1_048_588 });
    const producer = new KafkaProducer(kafka, logger);
    await Promise.all([
      producer.send([...events('small', 1_250), ...events('large', 10)]),
      producer.send(events('small', 10)),
    ]);
    await producer.send(events('small', 10));
    expect(reads.sort()).toEqual(['large', 'small']);
    const small = requests.flatMap((r) => r.filter((t) => t.topic === 'small'));
    expect(small.reduce((sum, t) => sum + t.messages.length, 0)).toBe(1_270);
    for (const { messages } of small)
      expect(encodedBytes('small', messages)).toBeLessThanOrEqual(200_000);
  });

  it('reads a limit again after the broker refused a batch of its topic as too large', async () => {
    const limits = { lowered: DEFAULT_MAX_MESSAGE_BYTES };
    const { kafka, reads, requests, refuseNext } = fakeKafka(limits);
    const producer = new KafkaProducer(kafka, logger);
    await producer.send(events('lowered', 1_250));
    expect(requests).toHaveLength(1);
    // Lowered since: the broker refuses what the old limit let through.
    limits.lowered = 200_000;
    refuseNext();
    await expect(producer.send(events('lowered', 1_250))).rejects.toThrow(/max message size/);
    requests.length = 0;
    await producer.send(events('lowered', 1_250));
    expect(reads).toEqual(['lowered', 'lowered']);
    expect(requests.length).toBeGreaterThan(1);
    for (const { messages } of requests.flat())
      expect(encodedBytes('lowered', messages)).toBeLessThanOrEqual(200_000);
  });
});
