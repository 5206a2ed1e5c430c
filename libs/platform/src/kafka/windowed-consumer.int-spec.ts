import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka, ensureTopics, KafkaProducer } from './kafka.js';
import { WindowedConsumer, type Lease, type WindowedConsumerOptions } from './windowed-consumer.js';

/** The windowed consumer against the real broker of the test run, on one partition. */
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with npm test');

const logger = pino({ level: 'silent' });
const kafka = createKafka(
  { brokers: brokers.split(','), clientId: 'windowed-int-test', ssl: false },
  logger,
);
const producer = new KafkaProducer(kafka, logger);

async function freshTopic(count: number): Promise<string> {
  const topic = `int-windowed-${randomUUID()}`;
  await ensureTopics(kafka, [{ topic }], { partitions: 1, replicationFactor: 1 }, logger);
  await producer.send(
    Array.from({ length: count }, (_, i) => ({ topic, key: null, value: String(i) })),
  );
  return topic;
}

async function committed(groupId: string, topic: string): Promise<string | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  await admin.disconnect();
  return entry?.partitions[0]?.offset;
}

/**
 * The group's committed offset once it is `expected`, or as it is after `timeoutMs`:
 * commits go out on a timer, a little after the work they cover.
 */
async function committedReaching(
  groupId: string,
  topic: string,
  expected: string,
  timeoutMs = 10_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const offset = await committed(groupId, topic);
    if (offset === expected || Date.now() > deadline) return offset;
    await sleep(100);
  }
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

/** A consumer of `topic` from its start, in a group of its own. */
function windowedConsumer(
  topic: string,
  options: Partial<WindowedConsumerOptions> & { maxInFlightPerPartition: number },
  client: typeof kafka = kafka,
): WindowedConsumer {
  return new WindowedConsumer(
    client,
    { groupId: `int-${randomUUID()}`, topics: [topic], fromBeginning: true, ...options },
    logger,
  );
}

/**
 * The test run's Kafka client, whose consumers record the size of every batch they fetch
 * (a batch is a fetch that brought messages of a partition).
 */
function recordingBatches(): { recorded: typeof kafka; batchSizes: number[] } {
  const batchSizes: number[] = [];
  const recorded = Object.create(kafka) as typeof kafka;
  recorded.consumer = (config) => {
    const inner = kafka.consumer(config);
    inner.on(inner.events.START_BATCH_PROCESS, (event) => batchSizes.push(event.payload.batchSize));
    return inner;
  };
  return { recorded, batchSizes };
}

describe('WindowedConsumer', () => {
  beforeAll(() => producer.connect());
  afterAll(() => producer.disconnect());

  it('works past a slow message of the same partition, and commits only below it', async () => {
    const topic = await freshTopic(20);
    const groupId = `int-${randomUUID()}`;
    const consumer = new WindowedConsumer(
      kafka,
      { groupId, topics: [topic], fromBeginning: true, maxInFlightPerPartition: 100 },
      logger,
    );
    const finished: number[] = [];
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    void consumer.start((message) => {
      const n = Number(message.value!.toString());
      return (n === 5 ? slow : Promise.resolve()).then(() => void finished.push(n));
    });
    // Everything but the slow message finishes while it is still in flight.
    await until(() => finished.length === 19);
    expect(finished).not.toContain(5);
    expect(await committedReaching(groupId, topic, '5')).toBe('5');

    releaseSlow();
    await until(() => finished.length === 20);
    expect(await committedReaching(groupId, topic, '20')).toBe('20');
    await consumer.stop();
  });

  it('holds no more than its window of one partition in flight', async () => {
    const topic = await freshTopic(30);
    const consumer = windowedConsumer(topic, { maxInFlightPerPartition: 4 });
    let inFlight = 0;
    let peak = 0;
    let done = 0;
    void consumer.start(async () => {
      peak = Math.max(peak, ++inFlight);
      await sleep(30);
      inFlight--;
      done++;
    });
    await until(() => done === 30);
    await consumer.stop();
    expect(peak).toBe(4);
  });

  it("tells each dispatch how much of its partition's window is in flight", async () => {
    const topic = await freshTopic(12);
    const consumer = windowedConsumer(topic, { maxInFlightPerPartition: 4 });
    const shares: number[] = [];
    let done = 0;
    void consumer.start(async (_message, windowShare) => {
      shares.push(windowShare);
      await sleep(50);
      done++;
    });
    await until(() => done === 12);
    await consumer.stop();
    // Each message is handed over with the ones before it still in flight: 0, 1/4, 2/4,
    // 3/4, and once the window is full, again as places come free.
    expect(shares.slice(0, 4)).toEqual([0, 0.25, 0.5, 0.75]);
    expect(Math.max(...shares)).toBe(0.75);
    expect(shares).toHaveLength(12);
  });

  it('repeats unfinished work after a stop, and nothing that was committed', async () => {
    const topic = await freshTopic(10);
    const groupId = `int-${randomUUID()}`;
    const options = {
      groupId,
      topics: [topic],
      fromBeginning: true,
      maxInFlightPerPartition: 100,
    };
    const first = new WindowedConsumer(kafka, options, logger);
    const firstSeen: number[] = [];
    let unfinished: Lease | undefined;
    void first.start((message, _, lease) => {
      const n = Number(message.value!.toString());
      firstSeen.push(n);
      // Message 7 never finishes: a stop hands it (and what follows) back.
      if (n !== 7) return Promise.resolve();
      unfinished = lease;
      return new Promise<void>(() => undefined);
    });
    await until(() => firstSeen.length === 10);
    expect(unfinished?.live).toBe(true);
    await first.stop(300);
    expect(await committed(groupId, topic)).toBe('7');
    // Whatever 7 would still produce is its repeat's to produce.
    expect(unfinished?.live).toBe(false);

    const second = new WindowedConsumer(kafka, options, logger);
    const secondSeen: number[] = [];
    void second.start((message) => {
      secondSeen.push(Number(message.value!.toString()));
      return Promise.resolve();
    });
    await until(() => secondSeen.length === 3);
    await second.stop();
    expect(secondSeen).toEqual([7, 8, 9]);
  });

  it('after a failure, starts again from the lowest unfinished message, not the failed one', async () => {
    const topic = await freshTopic(10);
    const groupId = `int-${randomUUID()}`;
    const consumer = new WindowedConsumer(
      kafka,
      { groupId, topics: [topic], fromBeginning: true, maxInFlightPerPartition: 100 },
      logger,
    );
    const seen: number[] = [];
    const leasesOf3: Lease[] = [];
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    void consumer.start((message, _, lease) => {
      const n = Number(message.value!.toString());
      seen.push(n);
      const times = seen.filter((m) => m === n).length;
      if (n === 3) leasesOf3.push(lease);
      // 3 is still in flight when 6 fails: the window starting again at 6 would commit
      // past 3, whose outcome was never acknowledged.
      if (n === 3 && times === 1) return slow;
      if (n === 6 && times === 1) return Promise.reject(new Error('produce failed'));
      return Promise.resolve();
    });
    await until(() => seen.filter((n) => n === 3).length === 2);
    expect(seen.filter((n) => n === 6)).toHaveLength(2);
    // The first 3 is repeated: its lease lapsed with its window; the repeat's holds.
    expect(leasesOf3.map((lease) => lease.live)).toEqual([false, true]);
    releaseSlow();
    expect(await committedReaching(groupId, topic, '10')).toBe('10');
    await consumer.stop();
  });

  it('goes on fetching the other partitions while one waits with a full window', async () => {
    const topic = `int-windowed-${randomUUID()}`;
    await ensureTopics(kafka, [{ topic }], { partitions: 2, replicationFactor: 1 }, logger);
    const raw = kafka.producer();
    await raw.connect();
    const send = (partition: number, values: string[]) =>
      raw.send({ topic, messages: values.map((value) => ({ partition, value })) });
    await send(0, ['a0', 'a1', 'a2', 'a3', 'a4']);
    await send(1, ['b0', 'b1']);
    const consumer = windowedConsumer(topic, { maxInFlightPerPartition: 2 });
    const seen: string[] = [];
    void consumer.start((message) => {
      const value = message.value!.toString();
      seen.push(value);
      // Partition 0's work never ends: its window of two fills and stays full.
      return message.partition === 0 ? new Promise<void>(() => undefined) : Promise.resolve();
    });
    await until(() => seen.includes('b1') && seen.includes('a1'));
    // Produced once partition 0's window is full: only a later fetch brings them.
    await send(1, ['b2', 'b3']);
    await until(() => seen.includes('b3'));
    expect(seen.filter((v) => v.startsWith('a'))).toEqual(['a0', 'a1']);
    await raw.disconnect();
    await consumer.stop(100);
  });

  it('lapses the leases of work in flight at a rebalance, whoever gets the partition', async () => {
    const topic = await freshTopic(3);
    const groupId = `int-${randomUUID()}`;
    const options = { groupId, topics: [topic], fromBeginning: true, maxInFlightPerPartition: 10 };
    const first = new WindowedConsumer(kafka, options, logger);
    const leases: Lease[] = [];
    void first.start((_, __, lease) => {
      leases.push(lease);
      return new Promise<void>(() => undefined);
    });
    await until(() => leases.length === 3);
    const inFlight = [...leases];
    expect(inFlight.every((lease) => lease.live)).toBe(true);
    const second = new WindowedConsumer(kafka, options, logger);
    void second.start(() => Promise.resolve());
    // The group rebalances: whoever holds the partition now fetches it again from 0. The
    // assignor may give it back to the first consumer, whose repeats hold live leases.
    await until(() => inFlight.every((lease) => !lease.live), 30_000);
    await Promise.all([first.stop(100), second.stop()]);
  });

  it('commits what finished as a rebalance starts, so that the next owner does not repeat it', async () => {
    const topic = await freshTopic(4);
    const groupId = `int-${randomUUID()}`;
    // No commit on the timer within the test: only the one at the rebalance can commit.
    const options = {
      groupId,
      topics: [topic],
      fromBeginning: true,
      maxInFlightPerPartition: 10,
      commitIntervalMs: 600_000,
    };
    const first = new WindowedConsumer(kafka, options, logger);
    const taken: string[] = [];
    void first.start((message) => {
      const n = Number(message.value!.toString());
      taken.push(`first ${n}`);
      // 0 and 1 finish at once; 2 and 3 are still in flight when the group rebalances.
      return n < 2 ? Promise.resolve() : new Promise<void>(() => undefined);
    });
    await until(() => taken.length === 4);
    const second = new WindowedConsumer(kafka, options, logger);
    void second.start((message) => {
      taken.push(`second ${message.value!.toString()}`);
      return Promise.resolve();
    });
    // Whoever holds the partition after the rebalance starts at 2.
    await until(() => taken.includes('first 2', 4) || taken.includes('second 2'), 30_000);
    const repeated = taken.slice(4).map((t) => Number(t.split(' ')[1]));
    expect(repeated.filter((n) => n < 2)).toEqual([]);
    expect(await committed(groupId, topic)).toBe('2');
    await Promise.all([first.stop(100), second.stop()]);
  });

  it('leaves a message that is not due, and takes it again when it is', async () => {
    const topic = await freshTopic(0);
    const consumer = windowedConsumer(topic, { maxInFlightPerPartition: 100 });
    let dueAt = 0;
    const taken: Array<{ n: number; at: number }> = [];
    // Joined first (kafkajs's run resolves once it has), so that joining a busy broker
    // does not count as lateness: the messages come after.
    await consumer.start((message) => {
      const n = Number(message.value!.toString());
      if (n === 1 && Date.now() < dueAt) return { notBefore: dueAt };
      taken.push({ n, at: Date.now() });
      return Promise.resolve();
    });
    dueAt = Date.now() + 1_500;
    await producer.send([0, 1, 2].map((n) => ({ topic, key: null, value: String(n) })));
    await until(() => taken.length === 3);
    await consumer.stop();
    expect(taken.map((t) => t.n)).toEqual([0, 1, 2]);
    expect(taken[1]!.at).toBeGreaterThanOrEqual(dueAt);
    expect(taken[1]!.at - dueAt).toBeLessThan(1_000);
  });

  it('takes messages falling due close together a few per fetch, never before they are due', async () => {
    const topic = await freshTopic(0);
    const { recorded, batchSizes } = recordingBatches();
    const consumer = windowedConsumer(topic, { maxInFlightPerPartition: 100 }, recorded);
    const lateness: number[] = [];
    // Joined first: joining a busy broker is not lateness.
    await consumer.start((message) => {
      const due = Number(message.value!.toString());
      if (Date.now() < due) return { notBefore: due };
      lateness.push(Date.now() - due);
      return Promise.resolve();
    });
    // Sixty messages falling due 25 ms apart, in one partition, as a retry topic holds them.
    const start = Date.now() + 1_000;
    const dues = Array.from({ length: 60 }, (_, i) => start + i * 25);
    await producer.send(dues.map((due) => ({ topic, key: null, value: String(due) })));
    await until(() => lateness.length === dues.length);
    await consumer.stop();
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...lateness)).toBeLessThan(1_000);
    // Not a fetch per message (sixty): a resumed partition joins the consumer's next fetch,
    // and its long poll (200 ms) gathers the messages that fell due meanwhile (9 here).
    expect(batchSizes.length).toBeLessThanOrEqual(30);
  });

  it('fetches no more of a partition than maxBytesPerPartition allows', async () => {
    const topic = await freshTopic(0);
    // One produce request each: a record batch is fetched whole, whatever its size.
    for (let i = 0; i < 40; i++)
      await producer.send([{ topic, key: null, value: 'x'.repeat(1_000) }]);
    const { recorded, batchSizes } = recordingBatches();
    const consumer = windowedConsumer(
      topic,
      { maxInFlightPerPartition: 1_000, maxBytesPerPartition: 8_192 },
      recorded,
    );
    let taken = 0;
    void consumer.start(() => {
      taken++;
      return Promise.resolve();
    });
    await until(() => taken === 40);
    await consumer.stop();
    // 40 KB in fetches of at most 8 KB: at most eight messages each, and so five or more.
    expect(batchSizes.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(8);
  });
});
