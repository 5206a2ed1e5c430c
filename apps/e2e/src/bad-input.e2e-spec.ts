import { HEADERS, TOPICS } from '@hookpost/contracts';
import {
  badMailEvents,
  RecordingReceiver,
  validMailEvents,
  type ValidMailEvent,
} from '@hookpost/testing';
import kafkajs, { type Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  http,
  kafkaClient,
  kcatProduce,
  readTopic,
  serviceHealth,
  startPipeline,
  tenant,
  type Pipeline,
} from './pipeline.js';

/**
 * Ten thousand malformed, hostile and oversized messages on `mail-events`, with valid
 * events among them, through the real pipeline: every bad one on the dead-letter topic
 * with its reason, every valid one delivered as it was sent, and no service down.
 */
describe('bad input on mail-events', () => {
  let pipeline: Pipeline;
  let organizationId: string;
  let apiKey: string;
  const receiver = new RecordingReceiver();
  const run = Date.now().toString(36);
  const senderDomain = `bad-input-${run}.example`;
  const maxEventBytes = 262_144;
  /** A request to the broker stays well under its 1 MB limit. */
  const maxRequestBytes = 512 * 1024;
  let warmUp: ValidMailEvent;

  beforeAll(async () => {
    await receiver.start();
    pipeline = await startPipeline({ MAX_EVENT_BYTES: String(maxEventBytes) });
    ({ organizationId, apiKey } = await tenant(pipeline, 'Bad Input Co', [senderDomain]));
    [warmUp] = validMailEvents({ organizationId, senderDomain, count: 1, tag: `${run}w` }) as [
      ValidMailEvent,
    ];
    const subscription = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}/bad-input`,
      events: ['message.*'],
    });
    expect(subscription.status, JSON.stringify(subscription.json)).toBe(201);
    // One event end to end first: every consumer has joined and settled before the test.
    await kcatProduce(pipeline.brokers, TOPICS.mailEvents, [
      { key: 'warm-up', value: warmUp.value.toString(), headers: warmUp.headers },
    ]);
    await receiver.waitFor((r) => r.path === '/bad-input', 1, 60_000);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
  });

  it('dead-letters each of 10,000 bad messages with its reason, delivers the valid ones among them, and nothing falls over', async () => {
    const before = await serviceHealth(pipeline);
    const bad = badMailEvents({ organizationId, maxEventBytes, count: 10_000, seed: 20_261 });
    expect(bad.length).toBeGreaterThanOrEqual(10_000);
    const valid = validMailEvents({
      organizationId,
      senderDomain,
      count: Math.ceil(bad.length / 20),
      tag: run,
    });
    const badKey = (i: number) => `bad-${run}-${i}`;
    const validKey = (i: number) => `valid-${run}-${i}`;
    // One valid event after every twenty bad ones.
    const messages: Message[] = bad.flatMap((message, i) => [
      { key: badKey(i), value: message.value, headers: message.headers },
      ...(i % 20 === 19 || i === bad.length - 1
        ? [valid[Math.floor(i / 20)]!].map((v) => ({
            key: validKey(Math.floor(i / 20)),
            value: v.value,
            headers: v.headers,
          }))
        : []),
    ]);
    expect(messages.length).toBe(bad.length + valid.length);

    const started = Date.now();
    const kafka = kafkaClient(pipeline.brokers, 'e2e-bad-input');
    const producer = kafka.producer();
    await producer.connect();
    let batch: Message[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length > 0) await producer.send({ topic: TOPICS.mailEvents, messages: batch });
      batch = [];
      batchBytes = 0;
    };
    for (const message of messages) {
      const size = (message.value as Buffer).length + 200;
      if (batchBytes + size > maxRequestBytes) await flush();
      batch.push(message);
      batchBytes += size;
    }
    await flush();
    await producer.disconnect();
    const produced = Date.now();

    // Valid events, delivered: each once, by its message id, with its text untouched.
    await receiver.waitFor((r) => r.path === '/bad-input', 1 + valid.length, 150_000);
    const dead = await readTopic(
      pipeline.brokers,
      TOPICS.mailEventsDeadLetter,
      (read) => read.filter((m) => m.key.startsWith(`bad-${run}-`)).length >= bad.length,
      60_000,
    );
    const finished = Date.now();

    const delivered = receiver.requests
      .filter((r) => r.path === '/bad-input')
      .map((r) => JSON.parse(r.body) as { data: { message_id: string; subject: string } });
    expect(delivered.map((d) => d.data.message_id).sort()).toEqual(
      [warmUp, ...valid].map((v) => v.messageId).sort(),
    );
    const subjects = new Map([warmUp, ...valid].map((v) => [v.messageId, v.subject]));
    for (const body of delivered)
      expect(body.data.subject).toBe(subjects.get(body.data.message_id));
    // A CRLF inside an event's custom_headers stays in the body: no header is injected.
    expect(receiver.requests.filter((r) => 'injected' in r.headers)).toEqual([]);

    // Bad ones, dead-lettered: each exactly once, for a reason its flaw admits.
    const mine = dead.filter((m) => m.key.startsWith(`bad-${run}-`));
    expect(dead.filter((m) => m.key.startsWith(`valid-${run}-`))).toEqual([]);
    const byKey = new Map<string, (typeof mine)[number]>();
    const copies = mine.filter((m) => byKey.has(m.key) || !byKey.set(m.key, m));
    expect(copies.map((m) => m.key)).toEqual([]);
    const wrong = bad.flatMap((message, i) => {
      const letter = byKey.get(badKey(i));
      const reason = letter?.headers[HEADERS.rejectReason];
      if (!letter) return [`${message.family}: ${message.name}: not dead-lettered`];
      if (!reason || !(message.reasons as readonly string[]).includes(reason))
        return [`${message.family}: ${message.name}: reason ${reason}`];
      if (!letter.headers[HEADERS.rejectDetail]) return [`${message.name}: no detail`];
      if (!letter.value.equals(message.value)) return [`${message.name}: value changed`];
      return [];
    });
    expect(wrong).toEqual([]);
    expect(mine).toHaveLength(bad.length);

    // The event log took the valid events too: no bad one stopped its consumer (Postgres
    // refuses a NUL or an unpaired surrogate in jsonb), for this organisation or any other.
    const last = valid[valid.length - 1]!;
    const logged = async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = await http(
          'GET',
          `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(last.messageId)}/events`,
          apiKey,
        );
        if (found.status === 200 || Date.now() > deadline) return found;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    expect((await logged()).status).toBe(200);

    // The same processes, up, healthy and without a crash or a consumer restart in their logs.
    const after = await serviceHealth(pipeline);
    expect(after).toEqual(
      before.map((service) => ({ ...service, running: true, live: 200, ready: 200 })),
    );
    // The pipeline keeps up: minutes of bad input would be an outage of its own.
    expect(finished - produced, `produced in ${produced - started} ms`).toBeLessThan(120_000);
  });

  it('creates the dead-letter and retry topics with their retention', async () => {
    const kafka = kafkaClient(pipeline.brokers, 'e2e-bad-input-retention');
    const admin = kafka.admin();
    await admin.connect();
    const retry = (await admin.listTopics()).find((t) => t.startsWith('hookpost.delivery-retry.'));
    expect(retry).toBeDefined();
    const topics = [TOPICS.mailEventsDeadLetter, TOPICS.deliveriesDead, retry!];
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({
        type: kafkajs.ConfigResourceTypes.TOPIC,
        name,
        configNames: ['retention.ms'],
      })),
    });
    await admin.disconnect();
    const retentionDays = Object.fromEntries(
      resources.map((r) => [r.resourceName, Number(r.configEntries[0]!.configValue) / 86_400_000]),
    );
    expect(retentionDays).toEqual({
      [TOPICS.mailEventsDeadLetter]: 14,
      [TOPICS.deliveriesDead]: 14,
      [retry!]: 7,
    });
  });

  /**
   * Sends `value` and a valid event behind it on one partition (one key), waits until
   * that event is delivered (nothing stalled behind `value`), and returns `value`'s dead
   * letter.
   */
  async function deadLetterBefore(
    key: string,
    value: Buffer,
    headers?: Record<string, string>,
  ): Promise<Awaited<ReturnType<typeof readTopic>>[number]> {
    const [after] = validMailEvents({ organizationId, senderDomain, count: 1, tag: key });
    const producer = kafkaClient(pipeline.brokers, `e2e-bad-input-${key}`).producer();
    await producer.connect();
    // Two sends: together they could be over what one request of the broker takes.
    await producer.send({ topic: TOPICS.mailEvents, messages: [{ key, value, headers }] });
    await producer.send({
      topic: TOPICS.mailEvents,
      messages: [{ key, value: after!.value, headers: after!.headers }],
    });
    await producer.disconnect();
    const dead = await readTopic(
      pipeline.brokers,
      TOPICS.mailEventsDeadLetter,
      (read) => read.some((m) => m.key === key),
      60_000,
    );
    await receiver.waitFor(
      (r) => r.path === '/bad-input' && r.body.includes(after!.messageId),
      1,
      30_000,
    );
    return dead.find((m) => m.key === key)!;
  }

  it('dead-letters a message as large as the broker takes, cut to fit, and goes on past it', async () => {
    // 300 bytes under Kafka's default limit of 1,048,588: mail-events takes it, and the
    // dead-letter copy with its reason and source headers would be over.
    const value = Buffer.alloc(1_048_588 - 300, 'x');
    const letter = await deadLetterBefore(`big-${run}`, value, {
      [HEADERS.organizationId]: organizationId,
    });
    expect(letter.headers[HEADERS.rejectReason]).toBe('too_large');
    expect(letter.headers[HEADERS.organizationId]).toBe(organizationId);
    expect(letter.headers[HEADERS.originalBytes]).toBe(String(value.length));
    expect(letter.value.length).toBeLessThan(value.length);
    expect(letter.value.length).toBeGreaterThan(value.length - 3_000);
    expect(value.subarray(0, letter.value.length).equals(letter.value)).toBe(true);
  });

  it('dead-letters an event whose canonical form outgrows its topic, and goes on past it', async () => {
    // Allowed up to 1 MB raw; 400,000 bytes that are not UTF-8 become as many U+FFFD, of
    // three bytes each: 1.2 MB of canonical event, over hookpost.events.v1's 1 MB.
    await pipeline.restart('event-ingest', 'SIGTERM', { MAX_EVENT_BYTES: '1000000' });
    const key = `grow-${run}`;
    const value = Buffer.concat([
      Buffer.from(
        `{"id":"${key}","type":"delivered","created_at":"${new Date().toISOString()}",` +
          `"data":{"email_id":"${key}","from":"news@${senderDomain}","to":"a@example.org","notes":"`,
      ),
      Buffer.alloc(400_000, 0xff),
      Buffer.from('"}}'),
    ]);
    const letter = await deadLetterBefore(key, value);
    expect(letter.headers[HEADERS.rejectReason]).toBe('too_large');
    expect(letter.headers[HEADERS.rejectDetail]).toMatch(
      /^the canonical event would take \d+ bytes, over the \d+ that hookpost\.events\.v1 takes/,
    );
    expect(letter.value.equals(value)).toBe(true);
  });
  it('passes over an event that Postgres refuses in the event log, and logs the ones beside it', async () => {
    // Written past event-ingest, which refuses a NUL: as a value it has not foreseen would
    // come. Before, the event log's statement failed on every try, for every organisation.
    const event = (tag: string, subject: string) => ({
      id: `evt_unstorable_${run}_${tag}`,
      type: 'message.delivered',
      organization_id: organizationId,
      occurred_at: new Date().toISOString(),
      received_at: new Date().toISOString(),
      source: { format: 'canonical' },
      data: { message_id: `unstorable-${run}-${tag}`, subject },
    });
    const metric = async () => {
      const metrics = await fetch(`${pipeline.apiUrl}/metrics`);
      const line =
        /^hookpost_kafka_passed_over_total\{topic="hookpost\.events\.v1",reason="unstorable"\} (\d+)/m;
      return Number(line.exec(await metrics.text())?.[1] ?? 0);
    };
    const before = await metric();
    await kcatProduce(
      pipeline.brokers,
      TOPICS.canonicalEvents,
      [event('a', 'before'), event('nul', 'a \u0000 in it'), event('b', 'after')].map((e) => ({
        key: e.id,
        value: JSON.stringify(e),
      })),
    );
    const events = (tag: string) =>
      http(
        'GET',
        `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(`unstorable-${run}-${tag}`)}/events`,
        apiKey,
      );
    const deadline = Date.now() + 30_000;
    while ((await events('b')).status !== 200 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await events('a')).status).toBe(200);
    expect((await events('b')).status).toBe(200);
    expect((await events('nul')).status).toBe(404);
    expect((await metric()) - before).toBe(1);
  });
});
