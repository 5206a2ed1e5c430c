import { RecordingReceiver, standardWebhookHeaders, type ReceivedRequest } from '@hookpost/testing';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Consumer } from 'kafkajs';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  attemptEventSchema,
  CONSUMER_GROUPS,
  retryTopic,
  TOPICS,
  VIEW_LEASE_MS,
  viewConsumerGroupPrefix,
  type DeliveryJob,
} from '@hookpost/contracts';
import {
  deliveredEvent,
  http,
  kcatConsume,
  kcatProduce,
  kcatProduceMany,
  kafkaClient,
  readTopic,
  startPipeline,
  untilViewsHaveChanges,
  viewsBehind,
  tenant,
  type Pipeline,
} from './pipeline.js';

/**
 * The deliverer as receivers see it: payload formats and headers, signatures through a
 * secret rotation, isolation from a dead endpoint, and at-least-once across a crash.
 */
describe('delivery', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let organizationId: string;
  const receiver = new RecordingReceiver();
  /** Stands in for an OpenTelemetry collector (OTLP/HTTP, JSON). */
  const collector = new RecordingReceiver();
  const run = Date.now().toString(36);

  beforeAll(async () => {
    await receiver.start();
    receiver.respondWith((request) => {
      if (request.path === '/hang') return { status: 200, delayMs: 60_000 };
      if (request.path === '/crash') return { status: 200, delayMs: 20 };
      if (request.path === '/saturated') return { status: 200, delayMs: 300 };
      if (request.path === '/crowded') return { status: 200, delayMs: 1_500 };
      if (request.path === '/down') return { status: 503 };
      return { status: 204 };
    });
    await collector.start();
    pipeline = await startPipeline({
      RETRY_SCHEDULE: '2s,4s',
      DELIVERY_TIMEOUT_MS: '10000',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    });
    ({ organizationId, apiKey } = await tenant(pipeline, 'Delivery Co'));
  });

  // Every subscription here takes message.delivered: remove each test's, so the next test's
  // events go only where it expects them.
  const created: string[] = [];
  afterEach(async () => {
    for (const id of created.splice(0)) {
      await http('DELETE', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey);
    }
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
    await collector.stop();
  });

  async function subscribe(path: string, extra: Record<string, unknown> = {}) {
    const response = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}${path}`,
      events: ['message.delivered'],
      ...extra,
    });
    expect(response.status, JSON.stringify(response.json)).toBe(201);
    created.push(response.json.id as string);
    return { id: response.json.id as string, secret: response.json.secret as string };
  }

  function delivered(name: string) {
    const id = `evt_${run}_${name}`;
    return deliveredEvent(id, organizationId, {
      message_id: id,
      from: 'news@delivery.example',
      to: 'ann@example.org',
    });
  }

  /** A delivery job as the matcher writes it, for a test to put on the topic itself. */
  function deliveryJob(subscriptionId: string, name: string, subscriptionVersion: number) {
    const now = new Date().toISOString();
    const eventId = `evt_${run}_${name}`;
    const job: DeliveryJob = {
      deliveryId: `dlv_${run}_${name}`,
      subscriptionId,
      organizationId,
      subscriptionVersion,
      attempt: 1,
      event: {
        id: eventId,
        type: 'message.delivered',
        organization_id: organizationId,
        occurred_at: now,
        received_at: now,
        source: { format: 'canonical' },
        data: { message_id: eventId },
      },
    };
    return job;
  }

  /** Waits until a restarted deliverer has joined its groups and delivers to `path`. */
  async function warmUp(path: string) {
    await subscribe(path);
    await untilViewsHaveChanges(pipeline);
    await kcatProduceMany(pipeline.brokers, 'mail-events', [
      delivered(`warm${path.replace('/', '-')}`),
    ]);
    await receiver.waitFor((r) => r.path === path, 1, 30_000);
  }

  const verify = (secret: string, request: ReceivedRequest) =>
    new Webhook(secret).verify(request.body, standardWebhookHeaders(request));
  const seed002 = (secret: string, body: string) =>
    `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

  it('sends each payload format as compact JSON with every header, signed', async () => {
    const headers = { 'X-Customer-Tag': 'blue', Authorization: 'Bearer receiver-token' };
    const subs = {
      standard: await subscribe('/fmt/standard', { headers }),
      paubox: await subscribe('/fmt/paubox', { headers, format: 'paubox' }),
      postal: await subscribe('/fmt/postal', { headers, format: 'postal' }),
    };
    await untilViewsHaveChanges(pipeline);
    const event = delivered('formats');
    await kcatProduceMany(pipeline.brokers, 'mail-events', [event]);
    const requests = await receiver.waitFor((r) => r.path.startsWith('/fmt/'), 3, 20_000);
    const byFormat = Object.fromEntries(requests.map((r) => [r.path.slice(5), r]));
    const source = JSON.parse(event.value) as {
      id: string;
      occurred_at: string;
      data: { message_id: string; from: string; to: string };
    };

    for (const [format, { secret }] of Object.entries(subs)) {
      const request = byFormat[format]!;
      expect(request.body).toBe(JSON.stringify(JSON.parse(request.body)));
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^Hookpost\//);
      expect(request.headers['x-customer-tag']).toBe('blue');
      expect(request.headers.authorization).toBe('Bearer receiver-token');
      expect(request.headers['webhook-id']).toMatch(/^del_/);
      expect(verify(secret, request)).toBeTruthy();
      expect(request.headers['x-webhook-signature']).toBe(seed002(secret, request.body));
    }
    expect(JSON.parse(byFormat.standard!.body)).toEqual({
      id: source.id,
      type: 'message.delivered',
      timestamp: source.occurred_at,
      data: source.data,
    });
    // The source systems' own field names and nesting, for receivers written for them.
    const { message_id, from, to } = source.data;
    expect(JSON.parse(byFormat.paubox!.body)).toEqual({
      event_name: 'api_mail_log_delivered',
      payload: { from, to, header_message_id: message_id, time: source.occurred_at },
    });
    expect(JSON.parse(byFormat.postal!.body)).toEqual({
      event: 'MessageSent',
      timestamp: Date.parse(source.occurred_at) / 1000,
      payload: { message: { message_id, from, to } },
      uuid: source.id,
    });
  });

  it('signs with both secrets during a rotation overlap', async () => {
    const { id, secret: oldSecret } = await subscribe('/rotation');
    await kcatProduceMany(pipeline.brokers, 'mail-events', [delivered('before-rotation')]);
    const [before] = await receiver.waitFor((r) => r.path === '/rotation', 1, 20_000);
    expect(String(before!.headers['webhook-signature']).split(' ')).toHaveLength(1);

    const rotated = await http(
      'POST',
      `${pipeline.apiUrl}/v1/webhooks/${id}/rotate-secret`,
      apiKey,
      {},
    );
    expect(rotated.status).toBe(200);
    const newSecret = rotated.json.secret as string;
    expect(newSecret).not.toBe(oldSecret);
    await untilViewsHaveChanges(pipeline);
    await kcatProduceMany(pipeline.brokers, 'mail-events', [delivered('after-rotation')]);
    const [, after] = await receiver.waitFor((r) => r.path === '/rotation', 2, 20_000);

    expect(String(after!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    // Receivers still on the old secret and those already on the new one both accept it.
    expect(verify(oldSecret, after!)).toBeTruthy();
    expect(verify(newSecret, after!)).toBeTruthy();
    expect(after!.headers['x-webhook-signature']).toBe(seed002(newSecret, after!.body));
    expect(() => verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, after!)).toThrow();
  });

  it('continues one trace from the mail server through ingest, matching and delivery', async () => {
    await subscribe('/traced');
    await untilViewsHaveChanges(pipeline);
    const traceId = randomBytes(16).toString('hex');
    const event = delivered('traced');
    await kcatProduce(pipeline.brokers, 'mail-events', [
      { ...event, headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
    ]);
    await receiver.waitFor((r) => r.path === '/traced', 1, 20_000);

    type OtlpBody = {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
        scopeSpans: Array<{ spans: Array<{ traceId: string; name: string }> }>;
      }>;
    };
    const spansOfTrace = () =>
      collector.requests
        .filter((r) => r.path === '/v1/traces')
        .flatMap((r) => (JSON.parse(r.body) as OtlpBody).resourceSpans)
        .flatMap((rs) => {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value
            .stringValue;
          return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ service, ...span })));
        })
        .filter((span) => span.traceId === traceId);
    const deadline = Date.now() + 15_000;
    while (new Set(spansOfTrace().map((s) => s.service)).size < 3 && Date.now() < deadline) {
      await sleep(250);
    }
    expect(
      spansOfTrace()
        .map((s) => `${s.service}:${s.name}`)
        .sort(),
    ).toEqual(['deliverer:deliver', 'event-ingest:ingest', 'matcher:match']);

    // And the metrics an on-call engineer looks at first.
    const metrics = async (name: 'deliverer' | 'matcher') =>
      (await fetch(`http://127.0.0.1:${pipeline.services[name].port}/metrics`)).text();
    const deliverer = await metrics('deliverer');
    expect(deliverer).toMatch(/^hookpost_delivery_latency_seconds_count [1-9]/m);
    expect(deliverer).toMatch(
      /^hookpost_kafka_consumer_lag\{group="hookpost-deliverer",topic="hookpost.delivery-jobs.v1",partition="\d+"\} \d+/m,
    );
    expect(deliverer).toMatch(/^hookpost_circuit_breakers\{state="closed"\} \d+/m);
    expect(deliverer).toMatch(
      /^hookpost_kafka_group_lag\{group="hookpost-deliverer",topic="hookpost.delivery-jobs.v1"\} \d+$/m,
    );
    expect(deliverer).toMatch(/^hookpost_ready 1$/m);
    expect(deliverer).toMatch(/^hookpost_readiness_check\{check="[^"]+"\} 1$/m);
    expect(await metrics('matcher')).toMatch(
      /^hookpost_kafka_consumer_lag\{group="hookpost-matcher"/m,
    );
  });

  it('keeps delivering promptly to a healthy endpoint while another never answers', async () => {
    await subscribe('/hang');
    await subscribe('/healthy');
    await untilViewsHaveChanges(pipeline);
    const events = Array.from({ length: 100 }, (_, i) => delivered(`isolation-${i}`));
    const producedAt = Date.now();
    await kcatProduceMany(pipeline.brokers, 'mail-events', events);
    const healthy = await receiver.waitFor((r) => r.path === '/healthy', 100, 30_000);
    const slowest = Math.max(...healthy.map((r) => r.receivedAt)) - producedAt;
    // The dead endpoint's requests take the full 10 s timeout; none of that shows here.
    expect(slowest).toBeLessThan(5_000);
    // The dead endpoint gets at most its cap of requests at once, not the whole pool.
    const hung = receiver.requests.filter((r) => r.path === '/hang');
    expect(hung.length).toBeLessThanOrEqual(16);
  });

  it('spaces the requests to an endpoint with a rate limit, holds up no other, and sends at full speed once it is removed', async () => {
    const limited = await subscribe('/limited', { rate_limit: 5 });
    const shown = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${limited.id}`, apiKey);
    expect(shown.json).toMatchObject({ rate_limit: 5 });
    await subscribe('/unlimited');
    await untilViewsHaveChanges(pipeline);
    const total = 10;
    const burst = async (name: string) => {
      const events = Array.from({ length: total }, (_, i) => delivered(`${name}-${i}`));
      await kcatProduceMany(pipeline.brokers, 'mail-events', events);
      return events.map((e) => e.key);
    };
    const arrivals = (path: string, ids: string[]) =>
      receiver
        .waitFor(
          (r) =>
            r.path === path &&
            ids.includes((JSON.parse(r.body) as { data: { message_id: string } }).data.message_id),
          ids.length,
          30_000,
        )
        .then((requests) => requests.map((r) => r.receivedAt).sort((a, b) => a - b));
    const spread = (times: number[]) => times[times.length - 1]! - times[0]!;

    // Names of their own: a repeated event id is dropped by ingest's dedupe.
    const paced = await burst('rate-limited');
    const [limitedTimes, unlimitedTimes] = await Promise.all([
      arrivals('/limited', paced),
      arrivals('/unlimited', paced),
    ]);
    // Five a second: one every 200 ms. A request sent late by a busy event loop shortens
    // the gap after it (the turns keep to their schedule), so every five in a row are
    // judged, with room for that, and the burst as a whole.
    for (let i = 0; i + 5 < total; i++)
      expect(limitedTimes[i + 5]! - limitedTimes[i]!).toBeGreaterThanOrEqual(850);
    expect(spread(limitedTimes)).toBeGreaterThanOrEqual(9 * 200 - 150);
    // The endpoint beside it got its burst at once, as it would have anyway.
    expect(spread(unlimitedTimes)).toBeLessThan(1_000);

    const removed = await http('PATCH', `${pipeline.apiUrl}/v1/webhooks/${limited.id}`, apiKey, {
      rate_limit: null,
    });
    expect(removed.json).toMatchObject({ rate_limit: null });
    await untilViewsHaveChanges(pipeline);
    const unpaced = await burst('rate-limit-removed');
    expect(spread(await arrivals('/limited', unpaced))).toBeLessThan(1_000);
  });

  it('delivers every job waiting its rate-limit turn across two rebalances, each at most twice', async () => {
    // One a second: ten jobs wait up to ten seconds for their turns, long enough for a
    // rebalance to come while most of them wait.
    await subscribe('/paced-rebalance', { rate_limit: 1 });
    await untilViewsHaveChanges(pipeline);
    const total = 10;
    await kcatProduceMany(
      pipeline.brokers,
      'mail-events',
      Array.from({ length: total }, (_, i) => delivered(`paced-rebalance-${i}`)),
    );
    await receiver.waitFor((r) => r.path === '/paced-rebalance', 1, 30_000);
    // A member joins the deliverer's group and leaves once the group has settled: two
    // rebalances, after each of which the jobs not committed are fetched again.
    const kafka = kafkaClient(pipeline.brokers, 'e2e-paced-rebalance');
    const intruder = kafka.consumer({ groupId: CONSUMER_GROUPS.deliverer });
    await intruder.connect();
    await intruder.subscribe({ topic: TOPICS.deliveryJobs });
    await intruder.run({ autoCommit: false, eachBatch: async () => undefined });
    await sleep(4_000);
    await intruder.disconnect();
    const ids = () =>
      receiver.requests
        .filter((r) => r.path === '/paced-rebalance')
        .map((r) => r.headers['webhook-id']);
    const deadline = Date.now() + 60_000;
    while (new Set(ids()).size < total && Date.now() < deadline) await sleep(200);
    // Room for late copies to show.
    await sleep(3_000);
    expect(new Set(ids()).size).toBe(total);
    // A job sent before a rebalance and not yet committed is sent again after it (at least
    // once, ADR 0011), once. That a job whose lease lapsed while it waited its turn is not
    // sent at all (its repeat is its only copy) is pinned in delivery.service.spec: here,
    // how many jobs each rebalance repeats depends on when the group's members heard of it.
    const copies = Map.groupBy(ids(), (id) => id);
    expect([...copies.values()].filter((copy) => copy.length > 2)).toEqual([]);
  });

  it('stops sending to an endpoint whose breaker opened, and logs its jobs short-circuited', async () => {
    const { id } = await subscribe('/down');
    type Attempt = {
      event_id: string;
      status: string;
      http_status: number | null;
      error: string;
    };
    const logsUntil = async (done: (attempts: Attempt[]) => boolean) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const logs = await http(
          'GET',
          `${pipeline.apiUrl}/v1/webhooks/${id}/logs?limit=100`,
          apiKey,
        );
        const attempts = logs.json.data as Attempt[];
        if (done(attempts) || Date.now() > deadline) return attempts;
        await sleep(250);
      }
    };
    await untilViewsHaveChanges(pipeline);
    // Five failures open the breaker (its volume threshold); from then on their retries
    // and later jobs are refused without a request, until the 30 s reset.
    const first = Array.from({ length: 5 }, (_, i) => delivered(`down-${i}`));
    await kcatProduceMany(pipeline.brokers, 'mail-events', first);
    const failed = await logsUntil((attempts) => attempts.length >= 5);
    expect(failed.map((a) => a.status)).toEqual(Array(5).fill('failed'));
    const later = Array.from({ length: 5 }, (_, i) => delivered(`down-later-${i}`));
    await kcatProduceMany(pipeline.brokers, 'mail-events', later);

    // The later events' first attempts, and the first retries (after 2 s) of all ten.
    const attempts = await logsUntil((all) => all.length >= 20);
    const refused = attempts.filter((a) => a.status === 'short_circuited');
    expect(attempts.filter((a) => a.status === 'failed')).toHaveLength(5);
    expect(refused.length).toBeGreaterThanOrEqual(15);
    expect(new Set(refused.map((a) => a.event_id))).toEqual(
      new Set([...first, ...later].map((e) => e.key)),
    );
    for (const attempt of refused) {
      expect(attempt.http_status).toBeNull();
      expect(attempt.error).toMatch(/circuit breaker/);
    }
    // Nothing beyond the five requests that opened it.
    expect(receiver.requests.filter((r) => r.path === '/down')).toHaveLength(5);
  });

  it('puts off the jobs of a saturated endpoint, unattempted, and delivers each once later', async () => {
    // One request at a time and two waiting: the rest of a burst is put off.
    await pipeline.restart('deliverer', 'SIGTERM', {
      ENDPOINT_CONCURRENCY: '1',
      ENDPOINT_QUEUE_LIMIT: '2',
    });
    try {
      await warmUp('/warm');
      const saturatedSubscription = await subscribe('/saturated');
      await subscribe('/beside');
      await untilViewsHaveChanges(pipeline);
      const total = 12;
      const events = Array.from({ length: total }, (_, i) => delivered(`saturated-${i}`));
      const producedAt = Date.now();
      await kcatProduceMany(pipeline.brokers, 'mail-events', events);
      // The endpoint beside it gets every event too (its own burst is under the same small
      // limits, so how soon is not judged here: the isolation test above does that).
      const beside = await receiver.waitFor((r) => r.path === '/beside', total, 60_000);
      expect(new Set(beside.map((r) => (JSON.parse(r.body) as { id: string }).id)).size).toBe(
        total,
      );
      const saturated = await receiver.waitFor((r) => r.path === '/saturated', total, 60_000);
      // Each event once: a deferral is not an attempt, so nothing is sent twice.
      const eventIds = saturated.map((r) => (JSON.parse(r.body) as { id: string }).id);
      expect(new Set(eventIds).size).toBe(total);
      await sleep(1_000);
      expect(receiver.requests.filter((r) => r.path === '/saturated')).toHaveLength(total);
      // Put off by a retry delay (2 s at first), not sent one after another at 300 ms each.
      expect(Math.max(...saturated.map((r) => r.receivedAt)) - producedAt).toBeGreaterThan(2_000);
      const metrics = await fetch(`http://127.0.0.1:${pipeline.services.deliverer.port}/metrics`);
      const deferred = /^hookpost_delivery_deferrals_total (\d+)/m.exec(await metrics.text());
      expect(Number(deferred?.[1])).toBeGreaterThan(0);
      // Put off again, a job waits the next delay: with room for three at a time, at least
      // six of the nine put off at first are put off a second time, to the 4 s topic (and
      // some of those a third time, to the same last delay).
      const putOff = (delaySeconds: number) =>
        kcatConsume(pipeline.brokers, retryTopic(delaySeconds))
          .map((m) => JSON.parse(m.value) as DeliveryJob)
          .filter((job) => job.subscriptionId === saturatedSubscription.id);
      const [first, second] = [putOff(2), putOff(4)];
      expect(first.length).toBeGreaterThanOrEqual(9);
      const counts = (jobs: DeliveryJob[]) => [
        ...new Set(jobs.map((job) => `attempt ${job.attempt}, put off ${job.deferrals}`)),
      ];
      expect(counts(first)).toEqual(['attempt 1, put off 1']);
      expect(second.filter((job) => job.deferrals === 2).length).toBeGreaterThanOrEqual(6);
      expect(counts(second.filter((job) => job.attempt !== 1 || (job.deferrals ?? 0) < 2))).toEqual(
        [],
      );
    } finally {
      await pipeline.restart('deliverer');
    }
  });

  it('puts off the jobs of an endpoint slow to answer, or held by its rate limit, once half its partition window is in flight, not those queued behind one that answers', async () => {
    // A window of eight jobs a partition, and a queue limit no burst here comes near: only
    // the crowded window puts jobs off. Without that, several endpoints that fall behind on
    // one partition fill its window together, and its fetching stops for every endpoint.
    await pipeline.restart('deliverer', 'SIGTERM', {
      ENDPOINT_CONCURRENCY: '2',
      ENDPOINT_QUEUE_LIMIT: '1000',
      MAX_IN_FLIGHT_PER_PARTITION: '8',
    });
    const deferrals = async () => {
      const metrics = await fetch(`http://127.0.0.1:${pipeline.services.deliverer.port}/metrics`);
      return Number(/^hookpost_delivery_deferrals_total (\d+)/m.exec(await metrics.text())?.[1]);
    };
    const sendBurst = async (path: string, total: number) => {
      await kcatProduceMany(
        pipeline.brokers,
        'mail-events',
        Array.from({ length: total }, (_, i) => delivered(`${path.slice(1)}-${i}`)),
      );
      const received = await receiver.waitFor((r) => r.path === path, total, 60_000);
      expect(new Set(received.map((r) => (JSON.parse(r.body) as { id: string }).id)).size).toBe(
        total,
      );
      await sleep(1_000);
      expect(receiver.requests.filter((r) => r.path === path)).toHaveLength(total);
    };
    try {
      // An endpoint that answers at once: a burst fills the window and queues behind its
      // two requests at a time, but it is not behind, so nothing is put off.
      await warmUp('/burst-warm');
      const burst = await subscribe('/burst');
      await untilViewsHaveChanges(pipeline);
      await sendBurst('/burst', 40);
      expect(await deferrals()).toBe(0);
      await http('DELETE', `${pipeline.apiUrl}/v1/webhooks/${burst.id}`, apiKey);

      // One that takes 1.5 s a request: once one has waited 1 s for its answer, five times
      // the deliverer's typical answer (the burst's, just before), every job that would
      // wait while the window is half full is put off.
      const crowded = await subscribe('/crowded');
      await untilViewsHaveChanges(pipeline);
      await sendBurst('/crowded', 20);
      expect(await deferrals()).toBeGreaterThanOrEqual(4);
      await http('DELETE', `${pipeline.apiUrl}/v1/webhooks/${crowded.id}`, apiKey);

      // One that answers at once but takes two requests a second: its rate limit holds the
      // jobs let through for a second, as long as a slow answer would, so it is behind too.
      const before = await deferrals();
      await subscribe('/paced', { rate_limit: 2 });
      await untilViewsHaveChanges(pipeline);
      await sendBurst('/paced', 20);
      expect((await deferrals()) - before).toBeGreaterThanOrEqual(4);
    } finally {
      await pipeline.restart('deliverer');
    }
  });

  it('puts off a job whose subscription version has not reached the deliverer, and delivers it once it has', async () => {
    const { id } = await subscribe('/view-behind');
    await untilViewsHaveChanges(pipeline);
    // Matched against version 2, which the deliverer has not seen yet (as when its view
    // is behind the matcher's): not skipped as unknown, nor sent with version 1.
    const job = deliveryJob(id, 'view_behind', 2);
    await kcatProduce(pipeline.brokers, TOPICS.deliveryJobs, [
      { key: id, value: JSON.stringify(job) },
    ]);
    await sleep(7_000);
    expect(receiver.requests.filter((r) => r.path === '/view-behind')).toEqual([]);
    expect(readFileSync(pipeline.services.deliverer.logFile, 'utf8')).toContain(
      `"deliveryId":"dlv_${run}_view_behind","reason":"subscription not in view"`,
    );
    const logs = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey);
    expect(logs.json.data).toEqual([]);

    // Version 2 arrives; the job comes back within its deferral's delay and goes.
    const changed = await http('PATCH', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey, {
      description: 'version 2',
    });
    expect(changed.json.version).toBe(2);
    const [request] = await receiver.waitFor((r) => r.path === '/view-behind', 1, 20_000);
    expect(request!.headers['webhook-id']).toBe(job.deliveryId);
  });

  it('logs and passes over delivery jobs that do not decode, and delivers the job behind them', async () => {
    const { id } = await subscribe('/behind-bad');
    await untilViewsHaveChanges(pipeline);
    const job = deliveryJob(id, 'behind_bad', 1);
    const logged = () =>
      readFileSync(pipeline.services.deliverer.logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('undecodable delivery job'));
    const passedOver = async () => {
      const metrics = await fetch(`http://127.0.0.1:${pipeline.services.deliverer.port}/metrics`);
      const line = new RegExp(
        `^hookpost_kafka_passed_over_total\\{topic="${TOPICS.deliveryJobs}",reason="undecodable"\\} (\\d+)`,
        'm',
      );
      return Number(line.exec(await metrics.text())?.[1] ?? 0);
    };
    const before = logged().length;
    const passedOverBefore = await passedOver();
    // Keyed by the subscription, as the matcher keys jobs: one partition, in this order.
    await kcatProduce(pipeline.brokers, TOPICS.deliveryJobs, [
      { key: id, value: 'not json' },
      { key: id, value: JSON.stringify({ ...job, attempt: 0 }) },
      { key: id, value: JSON.stringify(job) },
    ]);
    const [request] = await receiver.waitFor((r) => r.path === '/behind-bad', 1, 20_000);
    expect(request!.headers['webhook-id']).toBe(job.deliveryId);
    // The log is written asynchronously: its lines may land a moment after the delivery.
    for (let i = 0; i < 50 && logged().length - before < 2; i++) await sleep(100);
    const lines = logged().slice(before);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('not valid JSON');
    expect(lines[1]).toContain('"reason":"attempt: ');
    // Counted for the HookpostMessagesPassedOver alert, by topic.
    expect((await passedOver()) - passedOverBefore).toBe(2);
    await sleep(1_000);
    expect(receiver.requests.filter((r) => r.path === '/behind-bad')).toHaveLength(1);
  });

  it('stops within 10 s on SIGTERM while requests hang, and hands them back', async () => {
    await subscribe('/hang');
    await untilViewsHaveChanges(pipeline);
    const before = receiver.requests.filter((r) => r.path === '/hang').length;
    await kcatProduceMany(pipeline.brokers, 'mail-events', [delivered('sigterm')]);
    await receiver.waitFor((r) => r.path === '/hang', before + 1, 20_000);
    const deliverer = pipeline.services.deliverer;
    // The log file is this deliverer's and its predecessors': only the stop's lines count.
    const logFrom = statSync(deliverer.logFile).size;
    const started = Date.now();
    const code = await deliverer.stop('SIGTERM');
    expect(Date.now() - started).toBeLessThan(10_000);
    // A clean stop: Nest re-raises the signal once shut down; a crash would exit with 1.
    expect({ code, signal: deliverer.process.signalCode }).toEqual({
      code: null,
      signal: 'SIGTERM',
    });
    const log = readFileSync(deliverer.logFile).subarray(logFrom).toString('utf8');
    expect(log).toContain('"message":"stopped"');
    expect(log).not.toMatch(/"level":"(error|fatal)"/);
    // The request cut short by the stop is not the endpoint's failure: nothing is recorded
    // for it (no failed attempt, no retry), and the next deliverer repeats it.
    const recorded = kcatConsume(pipeline.brokers, TOPICS.deliveryAttempts).filter((m) =>
      m.value.includes(`evt_${run}_sigterm`),
    );
    expect(recorded).toEqual([]);
    await pipeline.restart('deliverer');
    await receiver.waitFor((r) => r.path === '/hang', before + 2, 20_000);
  });

  it('answers a DELETE only once every live deliverer has applied it', async () => {
    const { id } = await subscribe('/deleted');
    const admin = kafkaClient(pipeline.brokers, 'e2e-fence').admin();
    await admin.connect();
    try {
      const started = Date.now();
      const response = await http('DELETE', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey);
      expect(response.status).toBe(204);
      expect(Date.now() - started).toBeLessThan(VIEW_LEASE_MS);
      // Read at once: what the deliverers' views had committed (applied) when it answered.
      expect(await viewsBehind(admin, ['deliverer'])).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('holds a DELETE for a deliverer view stuck behind until its lease lapses, and that deliverer sends nothing meanwhile', async () => {
    const path = '/stale-view';
    const begun = Date.now();
    const subscriptions: Array<{ id: string; secret: string }> = [];
    for (let i = 0; i < 6; i++) subscriptions.push(await subscribe(path));
    await untilViewsHaveChanges(pipeline);
    // Each delivered once: the deliverer's view holds all six.
    await kcatProduceMany(pipeline.brokers, 'mail-events', [delivered(`stale-view-${begun}`)]);
    await receiver.waitFor(
      (r) => r.path === path && r.receivedAt >= begun,
      subscriptions.length,
      30_000,
    );

    const kafka = kafkaClient(pipeline.brokers, 'e2e-stale-view');
    const admin = kafka.admin();
    await admin.connect();
    const intruders: Consumer[] = [];
    try {
      // Members that take over partitions of the deliverer view's group and never commit:
      // as a view whose fetches stall. The deliverer keeps at most one of three partitions.
      const named = (await admin.listGroups()).groups
        .map((g) => g.groupId)
        .filter((g) => g.startsWith(viewConsumerGroupPrefix('deliverer')));
      const [view, ...others] = (await admin.describeGroups(named)).groups.filter(
        (g) => g.members.length > 0,
      );
      expect(others).toEqual([]);
      // Joined together: one rebalance, not one per member.
      for (let i = 0; i < 8; i++) intruders.push(kafka.consumer({ groupId: view!.groupId }));
      await Promise.all(
        intruders.map(async (intruder) => {
          await intruder.connect();
          await intruder.subscribe({ topic: TOPICS.subscriptionState, fromBeginning: true });
          await intruder.run({ autoCommit: false, eachBatch: async () => undefined });
        }),
      );
      const settled = async () => {
        const [group] = (await admin.describeGroups([view!.groupId])).groups;
        return group!.state === 'Stable' && group!.members.length === 9 ? group! : undefined;
      };
      const deadline = Date.now() + 60_000;
      let group = await settled();
      while (!group && Date.now() < deadline) {
        await sleep(200);
        group = await settled();
      }
      expect(group, 'the group settled with the intruders').toBeDefined();
      const delivererMember = group!.members.find((m) => m.clientId !== 'e2e-stale-view')!;
      const kept =
        kafkajs.AssignerProtocol.MemberAssignment.decode(delivererMember.memberAssignment)
          ?.assignment[TOPICS.subscriptionState] ?? [];
      // A subscription whose state lies in a partition the deliverer no longer reads.
      const states = await readTopic(
        pipeline.brokers,
        TOPICS.subscriptionState,
        (messages) => subscriptions.every(({ id }) => messages.some((m) => m.key === id)),
        30_000,
      );
      const target = subscriptions.find(({ id }) =>
        states.some((m) => m.key === id && !kept.includes(m.partition)),
      )!;
      expect(target).toBeDefined();

      const started = Date.now();
      const response = await http('DELETE', `${pipeline.apiUrl}/v1/webhooks/${target.id}`, apiKey);
      const answeredAt = Date.now();
      expect(response.status).toBe(204);
      expect(answeredAt - started).toBeGreaterThanOrEqual(VIEW_LEASE_MS);
      expect(answeredAt - started).toBeLessThan(VIEW_LEASE_MS + 5_000);

      // Jobs the matcher had written before the DELETE, at the version the deliverer's
      // view still shows as active: the view has not confirmed for the lease, so they wait.
      const jobs = Array.from({ length: 5 }, (_, i) =>
        deliveryJob(target.id, `stale_${begun}_${i}`, 1),
      );
      await kcatProduceMany(
        pipeline.brokers,
        TOPICS.deliveryJobs,
        jobs.map((job) => ({ key: target.id, value: JSON.stringify(job) })),
      );
      await sleep(3_000);
      const sentJobs = () =>
        receiver.requests.filter(
          (r) => r.path === path && jobs.some((job) => job.deliveryId === r.headers['webhook-id']),
        );
      expect(sentJobs()).toEqual([]);
      expect(readFileSync(pipeline.services.deliverer.logFile, 'utf8')).toContain(
        `"deliveryId":"${jobs[0]!.deliveryId}","reason":"view not current"`,
      );

      // The view gets its partitions back, reads the DELETE, and the jobs put off are skipped.
      await Promise.all(intruders.splice(0).map((c) => c.disconnect()));
      const recorded = await readTopic(
        pipeline.brokers,
        TOPICS.deliveryAttempts,
        (messages) => jobs.every((job) => messages.some((m) => m.value.includes(job.deliveryId))),
        60_000,
      );
      const attempts = recorded
        .filter((m) => m.key === target.id)
        .map((m) => attemptEventSchema.parse(JSON.parse(m.value.toString('utf8'))))
        .filter((a) => jobs.some((job) => job.deliveryId === a.deliveryId));
      expect(new Set(attempts.map((a) => a.deliveryId)).size).toBe(jobs.length);
      expect(attempts.filter((a) => a.outcome !== 'skipped')).toEqual([]);
      expect(sentJobs()).toEqual([]);
    } finally {
      await Promise.all(intruders.map((c) => c.disconnect()));
      await admin.disconnect();
    }
  });

  it('delivers everything at least once across a deliverer crash, duplicates with one webhook-id', async () => {
    await subscribe('/crash');
    await untilViewsHaveChanges(pipeline);
    const total = 400;
    const events = Array.from({ length: total }, (_, i) => delivered(`crash-${i}`));
    await kcatProduceMany(pipeline.brokers, 'mail-events', events);
    await receiver.waitFor((r) => r.path === '/crash', 60, 30_000);
    await pipeline.restart('deliverer', 'SIGKILL');

    const deadline = Date.now() + 90_000;
    const seen = new Map<string, Set<string>>();
    while (Date.now() < deadline) {
      seen.clear();
      for (const request of receiver.requests.filter((r) => r.path === '/crash')) {
        const eventId = (JSON.parse(request.body) as { id: string }).id;
        const ids = seen.get(eventId) ?? new Set<string>();
        ids.add(String(request.headers['webhook-id']));
        seen.set(eventId, ids);
      }
      if (seen.size === total) break;
      await sleep(500);
    }
    expect(seen.size).toBe(total);
    for (const ids of seen.values()) expect(ids.size).toBe(1);
  });
});
