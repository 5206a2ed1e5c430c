import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { pino } from 'pino';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchConsumer,
  createKafka,
  DEFAULT_MAX_MESSAGE_BYTES,
  ensureTopics,
  KafkaProducer,
  topicMessageLimit,
  type IncomingMessage,
} from './kafka.js';
import { GroupLagWatcher } from './group-lag.js';
import { TopicView } from './topic-view.js';

/** The Kafka adapter against the real broker of the test run (KAFKA_BROKERS). */
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run the tests with npm test');

const logger = pino({ level: 'silent' });
const kafka = createKafka(
  { brokers: brokers.split(','), clientId: 'platform-int-test', ssl: false },
  logger,
);
const producer = new KafkaProducer(kafka, logger);
const topic = `int-test-${randomUUID()}`;

/** A topic of its own for one test: `int-test-<name>-<uuid>`. */
async function newTopic(name: string, partitions: number): Promise<string> {
  const created = `int-test-${name}-${randomUUID()}`;
  await ensureTopics(kafka, [{ topic: created }], { partitions, replicationFactor: 1 }, logger);
  return created;
}

/**
 * The distinct messages a consumer hands over, once `count` of them came. A batch may come
 * twice (at least once: a rebalance as the new group settles can hand over a batch whose
 * commit was still due), so messages are told apart by their position.
 */
async function collect(
  consumer: BatchConsumer,
  count: number,
  timeoutMs = 30_000,
): Promise<IncomingMessage[]> {
  const seen = new Map<string, IncomingMessage>();
  await consumer.start(async (messages) => {
    for (const m of messages) seen.set(`${m.partition}/${m.offset}`, m);
  });
  const deadline = Date.now() + timeoutMs;
  while (seen.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return [...seen.values()];
}

describe('Kafka adapter', () => {
  it('leaves an idle connection idle (no 1 ms timer loop, kafkajs #1556)', async () => {
    const { prototype } = createRequire(import.meta.url)(
      'kafkajs/src/network/requestQueue/index.js',
    ) as { prototype: { checkPendingRequests(): void } };
    const check = prototype.checkPendingRequests;
    let checks = 0;
    prototype.checkPendingRequests = function (this: unknown) {
      checks += 1;
      check.call(this);
    };
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      await new Promise((r) => setTimeout(r, 100));
      checks = 0;
      await new Promise((r) => setTimeout(r, 500));
      // Unfixed, every connection checks its queue every millisecond: hundreds here.
      expect(checks).toBeLessThan(5);
    } finally {
      prototype.checkPendingRequests = check;
      await admin.disconnect();
    }
  });

  beforeAll(async () => {
    await ensureTopics(kafka, [{ topic }], { partitions: 2, replicationFactor: 1 }, logger);
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect();
  });

  it('creates topics idempotently', async () => {
    await ensureTopics(kafka, [{ topic }], { partitions: 2, replicationFactor: 1 }, logger);
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    expect(metadata.topics[0]?.partitions).toHaveLength(2);
  });

  it("measures a group's lag as the brokers see it, also while nothing consumes", async () => {
    const lagged = await newTopic('lag', 2);
    const group = `int-test-lag-${randomUUID()}`;
    const value = Buffer.from('x');
    await producer.send(
      Array.from({ length: 10 }, (_, i) => ({ topic: lagged, key: `k${i}`, value })),
    );
    const admin = kafka.admin();
    await admin.connect();
    // What the topic holds, as the brokers say (a send retried under load may add copies).
    const held = async () =>
      (await admin.fetchTopicOffsets(lagged)).reduce((sum, p) => sum + Number(p.high), 0);
    const ends = await admin.fetchTopicOffsets(lagged);
    // The group committed 1 on each partition, and stopped (a hung consumer looks the same).
    await admin.setOffsets({
      groupId: group,
      topic: lagged,
      partitions: ends.map((p) => ({ partition: p.partition, offset: '1' })),
    });
    const watcher = new GroupLagWatcher(kafka, logger, 60_000);
    const lag = async () =>
      (await register.getSingleMetric('hookpost_kafka_group_lag')!.get()).values.find(
        (v) => v.labels.group === group,
      )?.value;
    watcher.watch(group, [lagged]);
    await watcher.measure();
    const first = await held();
    expect(first).toBeGreaterThanOrEqual(10);
    expect(await lag()).toBe(first - 2);
    await producer.send([{ topic: lagged, key: 'more', value }]);
    await watcher.measure();
    expect(await lag()).toBe((await held()) - 2);
    expect(await held()).toBeGreaterThan(first);
    await watcher.unwatch(group);
    await admin.disconnect();
    expect(await lag()).toBeUndefined();
  });

  it("reads a topic's max.message.bytes, its own or the broker's", async () => {
    const own = `limit-${randomUUID()}`;
    await ensureTopics(
      kafka,
      [{ topic: own, config: { 'max.message.bytes': '200000' } }],
      { partitions: 1, replicationFactor: 1 },
      logger,
    );
    expect(await topicMessageLimit(kafka, own, logger)).toBe(200_000);
    expect(await topicMessageLimit(kafka, await newTopic('limit', 1), logger)).toBe(
      DEFAULT_MAX_MESSAGE_BYTES,
    );
  });

  it('sends a batch larger than the broker takes in one request, in several', async () => {
    const big = `big-${randomUUID()}`;
    await ensureTopics(kafka, [{ topic: big }], { partitions: 1, replicationFactor: 1 }, logger);
    const value = Buffer.alloc(300 * 1024, 7);
    // Six of these on one partition are 1.8 MB: over the 1 MB a broker accepts per batch.
    await producer.send(Array.from({ length: 6 }, () => ({ topic: big, key: 'same', value })));
    const admin = kafka.admin();
    await admin.connect();
    const [partition] = await admin.fetchTopicOffsets(big);
    await admin.disconnect();
    expect(partition?.high).toBe('6');
  });

  it("sends many small messages for one partition within its topic's max.message.bytes", async () => {
    const low = `low-limit-${randomUUID()}`;
    await ensureTopics(
      kafka,
      [{ topic: low, config: { 'max.message.bytes': '200000' } }],
      { partitions: 1, replicationFactor: 1 },
      logger,
    );
    // 1,500 events of 200 bytes on one partition: over 300 KB, in one request of less than
    // 512 KiB, and one record batch unless split by the topic's limit.
    const sent = Array.from({ length: 1_500 }, (_, i) => ({
      topic: low,
      key: 'same',
      value: String(i).padStart(200, '-'),
    }));
    await producer.send(sent);
    const consumer = new BatchConsumer(
      kafka,
      { groupId: `int-test-${randomUUID()}`, topics: [low], fromBeginning: true },
      logger,
    );
    const seen = await collect(consumer, sent.length);
    await consumer.stop();
    expect(new Set(seen.map((m) => m.value?.toString()))).toEqual(
      new Set(sent.map((m) => m.value)),
    );
  });

  it('sends a batch in one call and hands it to a batch consumer with keys and headers', async () => {
    await producer.send(
      Array.from({ length: 50 }, (_, i) => ({
        topic,
        key: `k${i % 5}`,
        value: `v${i}`,
        headers: { n: String(i) },
      })),
    );
    const group = `int-test-${randomUUID()}`;
    const consumer = new BatchConsumer(
      kafka,
      { groupId: group, topics: [topic], fromBeginning: true },
      logger,
    );
    const seen = await collect(consumer, 50);
    await consumer.stop();
    expect(seen).toHaveLength(50);
    expect(new Set(seen.map((m) => m.value?.toString()))).toEqual(
      new Set(Array.from({ length: 50 }, (_, i) => `v${i}`)),
    );
    const first = seen.find((m) => m.value?.toString() === 'v7')!;
    expect(first.key?.toString()).toBe('k2');
    expect(first.headers.n).toBe('7');

    // Committed: the same group, restarted, sees only what came after.
    await producer.send([{ topic, key: 'k', value: 'after-restart' }]);
    const again = new BatchConsumer(
      kafka,
      { groupId: group, topics: [topic], fromBeginning: true },
      logger,
    );
    const next = await collect(again, 1);
    await again.stop();
    expect(next.map((m) => m.value?.toString())).toEqual(['after-restart']);
  });

  it('has the broker accept produce requests written in one pass (it checks every batch CRC)', async () => {
    const several = `one-pass-${randomUUID()}`;
    await ensureTopics(
      kafka,
      [{ topic: several }],
      { partitions: 3, replicationFactor: 1 },
      logger,
    );
    // Keys and none, text with multi-byte characters and bytes of every length mod 8 (the
    // CRC's steps), headers, over two topics and several partitions in one request.
    const sent = Array.from({ length: 40 }, (_, i) => ({
      topic: i % 4 === 0 ? topic : several,
      key: i % 5 === 0 ? null : `ключ-${i}`,
      value: i % 2 === 0 ? `évènement ${i} ${'x'.repeat(i * 13)}` : Buffer.alloc(i * 97 + i, i),
      headers: { n: String(i), traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
    }));
    await producer.send(sent);
    const consumer = new BatchConsumer(
      kafka,
      { groupId: `int-test-${randomUUID()}`, topics: [several], fromBeginning: true },
      logger,
    );
    // A topic this new may answer "not the leader" for a partition at first: kafkajs then
    // sends the whole request again, so a message may come twice (at least once).
    const expected = new Map(sent.filter((m) => m.topic === several).map((m) => [m.headers.n, m]));
    const seen: IncomingMessage[] = [];
    await consumer.start(async (messages) => void seen.push(...messages));
    const deadline = Date.now() + 30_000;
    while (new Set(seen.map((m) => m.headers.n)).size < expected.size && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    expect(new Set(seen.map((m) => m.headers.n))).toEqual(new Set(expected.keys()));
    for (const got of seen) {
      const m = expected.get(got.headers.n!)!;
      expect(got.key?.toString() ?? null, m.headers.n).toBe(m.key);
      expect(got.value?.equals(Buffer.from(m.value)), m.headers.n).toBe(true);
      expect(got.headers.traceparent).toBe(m.headers.traceparent);
    }
  });

  it('commits finished batches on its timer, with no further batch and no stop', async () => {
    const timerTopic = await newTopic('timer', 2);
    await producer.send(
      Array.from({ length: 20 }, (_, i) => ({ topic: timerTopic, key: `k${i}`, value: `v${i}` })),
    );
    // Right after a topic is created, kafkajs may write a partition's messages twice (it
    // retries a whole produce request when one partition of it fails): count what is there.
    const admin = kafka.admin();
    await admin.connect();
    const end = (await admin.fetchTopicOffsets(timerTopic)).reduce((n, p) => n + Number(p.high), 0);
    expect(end).toBeGreaterThanOrEqual(20);
    const group = `int-test-${randomUUID()}`;
    const consumer = new BatchConsumer(
      kafka,
      { groupId: group, topics: [timerTopic], fromBeginning: true },
      logger,
    );
    const seen = await collect(consumer, end);
    expect(seen).toHaveLength(end);
    expect(new Set(seen.map((m) => m.value?.toString())).size).toBe(20);
    // Still running (a kill -9 now would lose nothing done): the group's offsets are at the end.
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [timerTopic] });
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    // Read until the end is reached: a batch handed over twice while the new group settles
    // may move a commit back for a moment before it moves on again.
    const deadline = Date.now() + 5_000;
    let total = await committed();
    while (total < end && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      total = await committed();
    }
    expect(total).toBe(end);
    await admin.disconnect();
    await consumer.stop();
  });

  it('does not commit a batch whose handler failed: it is seen again', async () => {
    const failTopic = await newTopic('fail', 1);
    await producer.send([{ topic: failTopic, key: null, value: 'once' }]);
    const consumer = new BatchConsumer(
      kafka,
      { groupId: `g-${randomUUID()}`, topics: [failTopic], fromBeginning: true },
      logger,
    );
    let calls = 0;
    await consumer.start(async () => {
      calls += 1;
      if (calls === 1) throw new Error('simulated failure');
    });
    const deadline = Date.now() + 30_000;
    while (calls < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('stops within seconds while its join waits on a member that stopped heartbeating', async () => {
    const joinTopic = await newTopic('join', 1);
    await producer.send([{ topic: joinTopic, key: null, value: 'held' }]);
    const groupId = `g-${randomUUID()}`;
    // A member stuck in its handler sends no heartbeats, so it neither rejoins nor leaves
    // until its session times out: a new member's join waits that long, as after a broker
    // restart, when the group still lists the members from before.
    const stuck = new BatchConsumer(
      kafka,
      { groupId, topics: [joinTopic], fromBeginning: true, sessionTimeoutMs: 20_000 },
      logger,
    );
    let release: () => void = () => undefined;
    let held = false;
    await stuck.start(async () => {
      held = true;
      await new Promise<void>((resolve) => (release = resolve));
    });
    const deadline = Date.now() + 30_000;
    while (!held && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(held).toBe(true);

    const joining = new BatchConsumer(
      kafka,
      { groupId, topics: [joinTopic], fromBeginning: true },
      logger,
    );
    const started = joining
      .start(() => Promise.resolve())
      // It may fail once stopped mid-join: only how long stopping takes is tested here.
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2_000));
    const stopAt = Date.now();
    await joining.stop();
    // Leaving would wait for the join, about 18 s more: a service has 10 s to exit.
    expect(Date.now() - stopAt).toBeLessThan(9_000);

    release();
    await stuck.stop();
    await started;
  }, 60_000);

  it('a view reports caught up only after reading what the topic held at start', async () => {
    const viewTopic = await newTopic('view', 3);
    await producer.send(
      Array.from({ length: 300 }, (_, i) => ({ topic: viewTopic, key: `s${i}`, value: String(i) })),
    );
    const seen = new Set<string>();
    const view = new TopicView(
      kafka,
      { groupId: `view-${randomUUID()}`, topics: [viewTopic] },
      logger,
    );
    expect(view.caughtUp).toBe(false);
    await view.start((messages) => {
      for (const m of messages) seen.add(m.value!.toString());
    });
    await view.waitUntilCaughtUp(30_000);
    expect(seen.size).toBe(300);
    expect(view.isReady).toBe(true);

    // Current: one offsets request (the admin client connected by a first call), not a
    // wait for the timeout. Behind: it reads on to what the topic holds now.
    expect(await view.catchUpToNow(5_000)).toBe(true);
    const started = Date.now();
    expect(await view.catchUpToNow(5_000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_500);
    await producer.send(
      Array.from({ length: 50 }, (_, i) => ({ topic: viewTopic, key: `t${i}`, value: `t${i}` })),
    );
    expect(await view.catchUpToNow(30_000)).toBe(true);
    expect(seen.size).toBe(350);
    await view.stop();
  });
  it('a view that acknowledges commits what it applied, says when it was last current, and removes its group at stop', async () => {
    const viewTopic = await newTopic('view-acknowledged', 2);
    const send = (prefix: string, count: number) =>
      producer.send(
        Array.from({ length: count }, (_, i) => ({
          topic: viewTopic,
          key: `${prefix}${i}`,
          value: `${prefix}${i}`,
        })),
      );
    await send('a', 40);
    const groupId = `view-${randomUUID()}`;
    const view = new TopicView(kafka, { groupId, topics: [viewTopic], acknowledge: true }, logger);
    expect(view.currentAsOf).toBeUndefined();
    const beforeStart = performance.now();
    await view.start(() => undefined);
    await view.waitUntilCaughtUp(30_000);
    // Current as of when it read the ends it caught up with: after it started, not later.
    const loadedAsOf = view.currentAsOf!;
    expect(loadedAsOf).toBeGreaterThanOrEqual(beforeStart);
    expect(loadedAsOf).toBeLessThanOrEqual(performance.now());

    const admin = kafka.admin();
    await admin.connect();
    const committedAll = async () => {
      const ends = await admin.fetchTopicOffsets(viewTopic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [viewTopic] });
      return ends.every(
        (end) =>
          committed!.partitions.find((p) => p.partition === end.partition)!.offset === end.high,
      );
    };
    const untilCommitted = async () => {
      const deadline = Date.now() + 10_000;
      while (!(await committedAll()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      return committedAll();
    };
    expect(await untilCommitted()).toBe(true);

    // A later change is applied and acknowledged too; confirming moves `currentAsOf` on.
    await send('b', 10);
    const asked = performance.now();
    expect(await view.catchUpToNow(10_000)).toBe(true);
    expect(view.currentAsOf!).toBeGreaterThanOrEqual(asked);
    expect(await untilCommitted()).toBe(true);

    await view.stop();
    expect(view.currentAsOf).toBeUndefined();
    const { groups } = await admin.listGroups();
    expect(groups.map((g) => g.groupId)).not.toContain(groupId);
    await admin.disconnect();
  });
  it('a view catches up with a partition whose records are all gone, reading nothing from it', async () => {
    // As retention leaves a partition of a topic not compacted: its log starts at its end.
    const viewTopic = await newTopic('view-emptied', 2);
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({
      topic: viewTopic,
      messages: [
        { partition: 0, value: 'gone' },
        { partition: 1, value: 'kept' },
      ],
    });
    await raw.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    // kafkajs finds the partitions' leaders only in metadata it has loaded.
    await admin.fetchTopicMetadata({ topics: [viewTopic] });
    await admin.deleteTopicRecords({
      topic: viewTopic,
      partitions: [{ partition: 0, offset: '-1' }],
    });
    await admin.disconnect();
    const seen: string[] = [];
    const view = new TopicView(
      kafka,
      { groupId: `view-${randomUUID()}`, topics: [viewTopic] },
      logger,
    );
    await view.start((messages) => {
      for (const m of messages) seen.push(m.value!.toString());
    });
    await view.waitUntilCaughtUp(10_000);
    // A batch may come twice (a rebalance as the view's group settles), the gone one never.
    expect(new Set(seen)).toEqual(new Set(['kept']));
    expect(await view.catchUpToNow(5_000)).toBe(true);
    await view.stop();
  });
});
