import { RecordingReceiver } from '@hookpost/testing';
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import pg from 'pg';
import {
  http,
  kcatProduceMany,
  requireEnv,
  startPipeline,
  untilViewsHaveChanges,
  type Pipeline,
} from './pipeline.js';

/** Test events, manual retries, replay, and the events of one message. */
describe('test, retry, replay and message events', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let otherKey: string;
  let organizationId: string;
  const receiver = new RecordingReceiver();
  const run = Date.now().toString(36);
  const messageId = `<${run}@news.example>`;
  const startedAt = new Date(Date.now() - 60_000).toISOString();

  beforeAll(async () => {
    await receiver.start();
    pipeline = await startPipeline();
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Redelivery Co',
    });
    organizationId = org.json.id as string;
    const other = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Someone Else',
    });
    const key = (id: string) =>
      http('POST', `${pipeline.apiUrl}/v1/organizations/${id}/api-keys`, pipeline.adminToken);
    apiKey = (await key(organizationId)).json.key as string;
    otherKey = (await key(other.json.id as string)).json.key as string;
    // History from before any subscription existed: nothing was delivered for it.
    await kcatProduceMany(pipeline.brokers, 'mail-events', [
      event('sent', 'message.sent'),
      event('delivered', 'message.delivered'),
      event('opened', 'message.opened'),
      event('elsewhere', 'message.delivered', `<other-${run}@news.example>`),
    ]);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
  });

  function event(name: string, type: string, message = messageId, from = 'news@news.example') {
    const id = `evt_${run}_${name}`;
    return {
      key: message,
      value: JSON.stringify({
        id,
        type,
        organization_id: organizationId,
        occurred_at: new Date().toISOString(),
        data: { message_id: message, from, to: 'ann@example.org' },
      }),
    };
  }

  async function subscribe(path: string, events: string[]) {
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}${path}`,
      events,
    });
    expect(created.status).toBe(201);
    return created.json.id as string;
  }

  async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await read();
      if (done(value) || Date.now() > deadline) return value;
      await sleep(250);
    }
  }

  it('lists every event of one message, oldest first, page by page, to its organisation only', async () => {
    const path = `/v1/messages/${encodeURIComponent(messageId)}/events`;
    const all = await until(
      () => http('GET', `${pipeline.apiUrl}${path}`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 3,
    );
    expect((all.json.data as Array<{ type: string }>).map((e) => e.type)).toEqual([
      'message.sent',
      'message.delivered',
      'message.opened',
    ]);
    const first = await http('GET', `${pipeline.apiUrl}${path}?limit=2`, apiKey);
    expect(first.json.data).toHaveLength(2);
    const rest = await http(
      'GET',
      `${pipeline.apiUrl}${path}?limit=2&cursor=${first.json.next_cursor as string}`,
      apiKey,
    );
    expect((rest.json.data as Array<{ type: string }>).map((e) => e.type)).toEqual([
      'message.opened',
    ]);
    expect(rest.json.next_cursor).toBeNull();
    const foreign = await http('GET', `${pipeline.apiUrl}${path}`, otherKey);
    expect(foreign.status).toBe(404);
    expect(foreign.json).toEqual({
      error: { code: 'not_found', message: 'message not found', details: [] },
    });
  });

  it('replays the matching events of a window to a subscription made after them', async () => {
    // The other message's event may sit on another partition: replay reads what has been stored.
    await until(
      () =>
        http(
          'GET',
          `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(`<other-${run}@news.example>`)}/events`,
          apiKey,
        ),
      (r) => (r.json.data as unknown[] | undefined)?.length === 1,
    );
    const id = await subscribe('/replay', ['message.delivered', 'message.opened']);
    const replayed = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/replay`, apiKey, {
      since: startedAt,
    });
    expect(replayed.status, JSON.stringify(replayed.json)).toBe(202);
    expect(replayed.json.queued).toBe(3);
    const requests = await receiver.waitFor((r) => r.path === '/replay', 3, 20_000);
    expect(requests.map((r) => JSON.parse(r.body).id).sort()).toEqual(
      [`evt_${run}_delivered`, `evt_${run}_elsewhere`, `evt_${run}_opened`].sort(),
    );
    const backwards = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/replay`, apiKey, {
      since: new Date().toISOString(),
      until: startedAt,
    });
    expect(backwards.status).toBe(422);
    expect(JSON.stringify(backwards.json)).toContain('until');
  });

  it('sends a test event through the pipeline to that subscription alone, and retries a delivery by hand', async () => {
    const id = await subscribe('/tested', ['message.bounced']);
    await subscribe('/bystander', ['message.bounced']);
    await sleep(1_000);
    const test = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {
      type: 'bounced',
    });
    expect(test.status, JSON.stringify(test.json)).toBe(202);
    expect(test.json.type).toBe('message.bounced');
    const [received] = await receiver.waitFor((r) => r.path === '/tested', 1, 20_000);
    const body = JSON.parse(received!.body) as { type: string; data: { test?: boolean } };
    expect(body).toMatchObject({ type: 'message.bounced', data: { test: true } });

    const unknown = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {
      type: 'message.exploded',
    });
    expect(unknown.status).toBe(422);

    // The attempt is in the log; retrying it sends the same delivery again.
    const logs = await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 1,
    );
    const deliveryId = (logs.json.data as Array<{ delivery_id: string }>)[0]!.delivery_id;
    const retried = await http(
      'POST',
      `${pipeline.apiUrl}/v1/webhooks/${id}/deliveries/${deliveryId}/retry`,
      apiKey,
    );
    expect(retried.status, JSON.stringify(retried.json)).toBe(202);
    expect(retried.json.attempt).toBe(2);
    const [, again] = await receiver.waitFor((r) => r.path === '/tested', 2, 20_000);
    expect(again!.headers['webhook-id']).toBe(received!.headers['webhook-id']);
    expect(receiver.requests.filter((r) => r.path === '/bystander')).toHaveLength(0);

    await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 2,
    );
    // Retries at once, before any of them is logged: one goes, the others are refused
    // while it is on its way (failed, each would start a chain of retries of its own).
    const retry = () =>
      http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/deliveries/${deliveryId}/retry`, apiKey);
    const together = await Promise.all([1, 2, 3].map(retry));
    expect(together.map((r) => r.status).sort()).toEqual([202, 409, 409]);
    expect(together.find((r) => r.status === 202)!.json.attempt).toBe(3);
    expect(together.find((r) => r.status === 409)!.json.error).toMatchObject({
      code: 'retry_pending',
      message: expect.stringContaining('a retry by hand of this delivery is on its way'),
    });
    await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 3,
    );
    // Its attempt is in the log: the next retry by hand goes, numbered after it.
    const next = await retry();
    expect(next.status, JSON.stringify(next.json)).toBe(202);
    expect(next.json.attempt).toBe(4);
    await receiver.waitFor((r) => r.path === '/tested', 4, 20_000);
    const logged = await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 4,
    );
    expect((logged.json.data as Array<{ attempt: number }>).map((a) => a.attempt).sort()).toEqual([
      1, 2, 3, 4,
    ]);

    const missing = await http(
      'POST',
      `${pipeline.apiUrl}/v1/webhooks/${id}/deliveries/del_01ZZZZZZZZZZZZZZZZZZZZZZZZ/retry`,
      apiKey,
    );
    expect(missing.status).toBe(404);
    await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/pause`, apiKey);
    const paused = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {});
    expect(paused.status).toBe(409);
    const foreign = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, otherKey, {});
    expect(foreign.status).toBe(404);
  });

  it('sends a test event for a subscription the matcher does not have yet', async () => {
    // The outbox relay held off (another relay's lock): the subscription is saved, and its
    // test sent, before the matcher and the deliverer hear of it.
    const relay = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    await relay.connect();
    await relay.query('BEGIN');
    await relay.query('SELECT pg_advisory_xact_lock(7460915311)');
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await relay.query('COMMIT');
      await relay.end();
    };
    try {
      const id = await subscribe('/tested-early', ['message.delivered']);
      const test = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {});
      expect(test.status, JSON.stringify(test.json)).toBe(202);
      // Matched meanwhile against an index without the subscription.
      await sleep(1_000);
      await release();
      const [request] = await receiver.waitFor((r) => r.path === '/tested-early', 1, 20_000);
      expect(JSON.parse(request!.body).id).toBe(test.json.event_id);
    } finally {
      await release();
    }
  });

  it('refuses a manual retry while an automatic retry of the delivery is pending', async () => {
    receiver.respondWith((r) => ({ status: r.path === '/failing' ? 500 : 200 }));
    const id = await subscribe('/failing', ['message.complained']);
    await sleep(1_000);
    const test = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {});
    expect(test.status, JSON.stringify(test.json)).toBe(202);
    // The default schedule: the first attempt fails, the next is a minute away.
    const logs = await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 1,
    );
    const [failed] = logs.json.data as Array<{
      delivery_id: string;
      status: string;
      next_retry_at: string | null;
    }>;
    expect(failed).toMatchObject({ status: 'failed', next_retry_at: expect.any(String) });

    const path = `/v1/webhooks/${id}/deliveries/${failed!.delivery_id}/retry`;
    const refused = await http('POST', `${pipeline.apiUrl}${path}`, apiKey);
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({
      code: 'retry_pending',
      message: expect.stringContaining(
        `attempt 2 of this delivery is scheduled for ${failed!.next_retry_at}`,
      ),
    });
    const client = new WebhooksGrpc(pipeline.grpcAddress);
    try {
      const overGrpc = await client.call(
        'RetryDelivery',
        { id, delivery_id: failed!.delivery_id },
        apiKey,
      );
      expect(overGrpc).toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
        errorCode: 'retry_pending',
      });
    } finally {
      client.close();
    }
    // Nothing was queued: the one request is the automatic chain's first attempt.
    await sleep(2_000);
    expect(receiver.requests.filter((r) => r.path === '/failing')).toHaveLength(1);
  });

  it('narrows the delivery log by outcome, event type, event and time, shows what a failing endpoint answered, replays only failures, and sums the attempts up, over REST and gRPC', async () => {
    const refusing = (r: { path: string; body: string }) =>
      r.path === '/filtered' && (JSON.parse(r.body) as { type: string }).type === 'message.bounced';
    receiver.respondWith((r) =>
      refusing(r)
        ? { status: 500, body: 'bounce handler down\n' }
        : { status: r.path === '/failing' ? 500 : 200, body: 'fine' },
    );
    const id = await subscribe('/filtered', ['message.delivered', 'message.bounced']);
    await sleep(1_000);
    const sent: Record<string, string> = {};
    for (const type of ['message.delivered', 'message.bounced']) {
      const test = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/test`, apiKey, {
        type,
      });
      expect(test.status, JSON.stringify(test.json)).toBe(202);
      sent[type] = test.json.event_id as string;
    }
    const logs = (query: string) =>
      http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs?${query}`, apiKey);
    await until(
      () => logs(''),
      (r) => (r.json.data as unknown[] | undefined)?.length === 2,
    );
    type Attempt = {
      event_id: string;
      event_type: string;
      status: string;
      response_body: string | null;
    };
    const data = async (query: string) => (await logs(query)).json.data as Attempt[];

    // What the failing endpoint answered is in its attempt; nothing of a success's answer.
    expect(await data('status=failed')).toEqual([
      expect.objectContaining({
        event_type: 'message.bounced',
        status: 'failed',
        response_body: 'bounce handler down\n',
      }),
    ]);
    expect(await data('status=succeeded&event_type=delivered')).toEqual([
      expect.objectContaining({
        event_id: sent['message.delivered'],
        status: 'succeeded',
        response_body: null,
      }),
    ]);
    expect(await data(`event_id=${sent['message.bounced']}`)).toEqual([
      expect.objectContaining({ event_id: sent['message.bounced'] }),
    ]);
    expect(await data(`since=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);
    const recover = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/replay`, apiKey, {
      since: new Date(Date.now() - 3_600_000).toISOString(),
      failed_only: true,
    });
    expect(recover.status, JSON.stringify(recover.json)).toBe(202);
    expect(recover.json).toMatchObject({ queued: 0, failed_only: true });
    const refused = await logs('status=exploded');
    expect(refused.status).toBe(422);
    expect(refused.json.error).toMatchObject({
      code: 'invalid_status',
      details: [{ field: 'status.0', message: expect.stringMatching(/must be one of/) }],
    });

    // The same two attempts summed up: one of two sent succeeded, both answered.
    const summed = {
      attempts: { succeeded: 1, failed: 1, short_circuited: 0, skipped: 0 },
      success_rate: 0.5,
      duration_ms: {
        p50: expect.any(Number),
        p95: expect.any(Number),
        p99: expect.any(Number),
      },
      last_attempt_at: expect.any(String),
    };
    const stats = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/stats`, apiKey);
    expect(stats.status, JSON.stringify(stats.json)).toBe(200);
    expect(stats.json).toMatchObject(summed);
    const later = new Date(Date.now() + 60_000).toISOString();
    const none = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/${id}/stats?since=${later}&until=${later}`,
      apiKey,
    );
    expect(none.status).toBe(422);
    expect(none.json.error).toMatchObject({
      details: [{ field: 'until', message: 'must be after since' }],
    });

    const client = new WebhooksGrpc(pipeline.grpcAddress);
    try {
      const grpcStats = await client.call('GetWebhookStats', { id }, apiKey);
      expect(grpcStats.code, grpcStats.details).toBe(grpc.status.OK);
      // The counts are 64-bit, strings as the loader gives them.
      expect(grpcStats.value).toMatchObject({
        ...summed,
        attempts: { succeeded: '1', failed: '1', short_circuited: '0', skipped: '0' },
      });
      const badWindow = await client.call('GetWebhookStats', { id, since: 'yesterday' }, apiKey);
      expect(badWindow).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      const failed = await client.call<{ data: Attempt[] }>(
        'ListDeliveryAttempts',
        { id, status: ['failed'] },
        apiKey,
      );
      expect(failed.code, failed.details).toBe(grpc.status.OK);
      expect(failed.value!.data.map((a) => [a.event_type, a.response_body])).toEqual([
        ['message.bounced', 'bounce handler down\n'],
      ]);
      const delivered = await client.call<{ data: Attempt[] }>(
        'ListDeliveryAttempts',
        { id, event_type: ['message.delivered'], event_id: sent['message.delivered'] },
        apiKey,
      );
      expect(delivered.value!.data.map((a) => a.status)).toEqual(['succeeded']);
      const bad = await client.call('ListDeliveryAttempts', { id, since: 'yesterday' }, apiKey);
      expect(bad).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, errorCode: 'invalid_since' });
      // A replay of only what never succeeded (test events are not replayed: none here).
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const recovered = await client.call('Replay', { id, since, failed_only: true }, apiKey);
      expect(recovered.value).toMatchObject({ queued: 0, failed_only: true });
    } finally {
      client.close();
    }
  });

  it('erases the stored events of one message that a key may see, after which their deliveries are neither retried nor replayed, over REST and gRPC', async () => {
    const message = `<erase-${run}@news.example>`;
    const path = `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(message)}/events`;
    const id = await subscribe('/erased', ['message.delivered', 'message.opened']);
    await untilViewsHaveChanges(pipeline);
    await kcatProduceMany(pipeline.brokers, 'mail-events', [
      event('erase-sent', 'message.sent', message),
      event('erase-delivered', 'message.delivered', message),
      // The same message as another sender tells it: outside the scoped key below.
      event('erase-opened', 'message.opened', message, 'tracker@relay.example'),
    ]);
    await receiver.waitFor((r) => r.path === '/erased', 2, 20_000);
    const stored = await until(
      () => http('GET', path, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 3,
    );
    expect(stored.json.data).toHaveLength(3);
    const logs = await until(
      () => http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey),
      (r) => (r.json.data as unknown[] | undefined)?.length === 2,
    );
    const deliveryOf = (eventId: string) =>
      (logs.json.data as Array<{ delivery_id: string; event_id: string }>).find(
        (a) => a.event_id === eventId,
      )!.delivery_id;
    const retry = (eventId: string) =>
      http(
        'POST',
        `${pipeline.apiUrl}/v1/webhooks/${id}/deliveries/${deliveryOf(eventId)}/retry`,
        apiKey,
      );

    // Another organisation's key, and a key of this one scoped to a domain the message's
    // senders are not in, see nothing of it: 404, and nothing is erased.
    const scopedKey = async (domains: string[]) =>
      (
        await http(
          'POST',
          `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
          pipeline.adminToken,
          { scope: { domains } },
        )
      ).json.key as string;
    for (const key of [otherKey, await scopedKey(['elsewhere.example'])]) {
      const refused = await http('DELETE', path, key);
      expect(refused.status).toBe(404);
      expect(refused.json).toEqual({
        error: { code: 'not_found', message: 'message not found', details: [] },
      });
    }
    expect((await http('GET', path, apiKey)).json.data).toHaveLength(3);

    // A key scoped to news.example erases the two events its sender sent, not the third.
    const erased = await http('DELETE', path, await scopedKey(['news.example']));
    expect(erased.status, JSON.stringify(erased.json)).toBe(200);
    expect(erased.json).toEqual({ erased: 2 });
    const left = await http('GET', path, apiKey);
    expect((left.json.data as Array<{ id: string }>).map((e) => e.id)).toEqual([
      `evt_${run}_erase-opened`,
    ]);
    const expired = await retry(`evt_${run}_erase-delivered`);
    expect(expired.status, JSON.stringify(expired.json)).toBe(410);
    expect(expired.json.error).toMatchObject({
      code: 'event_expired',
      message: expect.stringContaining('erased'),
    });
    // A replay of the window sends the event kept, not those erased.
    const sentTo = () => receiver.requests.filter((r) => r.path === '/erased');
    const before = sentTo().length;
    const replayed = await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/replay`, apiKey, {
      since: startedAt,
    });
    expect(replayed.status, JSON.stringify(replayed.json)).toBe(202);
    const queued = replayed.json.queued as number;
    await receiver.waitFor((r) => r.path === '/erased', before + queued, 20_000);
    const replayedIds = sentTo()
      .slice(before)
      .map((r) => JSON.parse(r.body).id as string);
    expect(replayedIds).toContain(`evt_${run}_erase-opened`);
    expect(replayedIds).not.toContain(`evt_${run}_erase-delivered`);

    // The rest over gRPC; then nothing of the message is left to erase or list.
    const client = new WebhooksGrpc(pipeline.grpcAddress);
    try {
      const rest = await client.call('DeleteMessageEvents', { message_id: message }, apiKey);
      expect(rest.code, rest.details).toBe(grpc.status.OK);
      expect(rest.value).toEqual({ erased: 1 });
      const again = await client.call('DeleteMessageEvents', { message_id: message }, apiKey);
      expect(again).toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
    }
    expect((await http('GET', path, apiKey)).status).toBe(404);
    expect((await http('DELETE', path, apiKey)).status).toBe(404);
    expect((await retry(`evt_${run}_erase-opened`)).status).toBe(410);
  });
});
