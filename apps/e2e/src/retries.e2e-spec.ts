import { RecordingReceiver, standardWebhookHeaders, type ReceivedRequest } from '@hookpost/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deliveredEvent,
  http,
  kcatConsume,
  kcatProduce,
  startPipeline,
  tenant,
  type Pipeline,
} from './pipeline.js';

/** Retries through the per-delay topics, with a short schedule so the test need not wait. */
describe('retries', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let organizationId: string;
  const receiver = new RecordingReceiver();
  const calls = new Map<string, number>();

  beforeAll(async () => {
    await receiver.start();
    // Each path answers by its own script, indexed by how often it was called.
    const scripts: Record<string, Array<{ status: number; headers?: Record<string, string> }>> = {
      '/flaky': [{ status: 500 }, { status: 502 }, { status: 200 }],
      '/busy': [{ status: 503, headers: { 'retry-after': '3' } }, { status: 200 }],
      '/stranded': [{ status: 500 }, { status: 500 }, { status: 200 }],
      '/patient': [{ status: 429, headers: { 'retry-after': '9' } }, { status: 200 }],
      '/down': [{ status: 500 }],
      '/moved': [{ status: 302, headers: { location: '/landing' } }, { status: 200 }],
      '/gone': [{ status: 410 }],
    };
    receiver.respondWith((request) => {
      const n = calls.get(request.path) ?? 0;
      calls.set(request.path, n + 1);
      const script = scripts[request.path] ?? [{ status: 200 }];
      return script[Math.min(n, script.length - 1)]!;
    });
    pipeline = await startPipeline({ RETRY_SCHEDULE: '2s,4s', AUTO_PAUSE_AFTER_FAILURES: '3' });
    ({ organizationId, apiKey } = await tenant(pipeline, 'Retry Co'));
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
  });

  async function subscribeAndSend(
    path: string,
  ): Promise<{ secret: string; eventId: string; webhookId: string }> {
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}${path}`,
      events: ['message.delivered'],
    });
    expect(created.status).toBe(201);
    const eventId = `evt_retry_${path.slice(1)}_000001`;
    await kcatProduce(pipeline.brokers, 'mail-events', [deliveredEvent(eventId, organizationId)]);
    return { secret: created.json.secret as string, eventId, webhookId: created.json.id as string };
  }

  const gaps = (requests: ReceivedRequest[]) =>
    requests.slice(1).map((r, i) => r.receivedAt - requests[i]!.receivedAt);

  it('retries on schedule, never early and less than a second late, with one webhook-id', async () => {
    const { secret } = await subscribeAndSend('/flaky');
    const requests = await receiver.waitFor((r) => r.path === '/flaky', 3, 30_000);
    const [first, second] = gaps(requests);
    expect(first).toBeGreaterThanOrEqual(2_000);
    expect(first).toBeLessThan(3_000);
    expect(second).toBeGreaterThanOrEqual(4_000);
    expect(second).toBeLessThan(5_000);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    // Each attempt is signed afresh, and each signature verifies.
    expect(new Set(requests.map((r) => r.headers['webhook-timestamp'])).size).toBe(3);
    for (const request of requests) {
      expect(() =>
        new Webhook(secret).verify(request.body, standardWebhookHeaders(request)),
      ).not.toThrow();
    }
  });

  it('waits as long as Retry-After asks on a 503', async () => {
    await subscribeAndSend('/busy');
    const requests = await receiver.waitFor((r) => r.path === '/busy', 2, 30_000);
    expect(gaps(requests)[0]).toBeGreaterThanOrEqual(3_000);
    expect(gaps(requests)[0]).toBeLessThan(4_000);
  });

  it('waits as long as Retry-After asks, past the longest delay, and logs when', async () => {
    // The schedule's longest delay is 4 s: the retry waits on that topic twice, then 1 s.
    const { webhookId } = await subscribeAndSend('/patient');
    const requests = await receiver.waitFor((r) => r.path === '/patient', 2, 30_000);
    expect(gaps(requests)[0]).toBeGreaterThanOrEqual(9_000);
    // Three stops, each a little late (a resumed partition waits for the fetch in flight),
    // and each wait counted from the end of the one before: well under the 13 s a fourth
    // stop of the longest delay would make.
    expect(gaps(requests)[0]).toBeLessThan(12_000);
    const logs = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${webhookId}/logs`, apiKey);
    const first = (
      logs.json.data as Array<{
        attempt: number;
        attempted_at: string;
        next_retry_at: string;
        duration_ms: number;
      }>
    ).find((a) => a.attempt === 1)!;
    // Announced from the answer, and logged from the attempt's start: 9 s and the answer's
    // time apart (the longest delay, 4 s, would be the wrong announcement).
    const announced = Date.parse(first.next_retry_at) - Date.parse(first.attempted_at);
    expect(announced).toBeGreaterThanOrEqual(9_000);
    expect(announced - first.duration_ms).toBeLessThan(9_500);
  });

  it('does not follow a redirect: it is a failure, retried', async () => {
    await subscribeAndSend('/moved');
    await receiver.waitFor((r) => r.path === '/moved', 2, 30_000);
    expect(receiver.requests.filter((r) => r.path === '/landing')).toHaveLength(0);
  });

  /** Polls the API until the webhook reaches `status`. */
  async function statusBecomes(
    webhookId: string,
    status: string,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = (await http('GET', `${pipeline.apiUrl}/v1/webhooks/${webhookId}`, apiKey))
        .json.status;
      if (current === status) return;
      if (Date.now() > deadline)
        throw new Error(`webhook ${webhookId} is ${String(current)}, not ${status}`);
      await sleep(200);
    }
  }

  it('does not retry a 410, and disables the subscription', async () => {
    const { webhookId } = await subscribeAndSend('/gone');
    await receiver.waitFor((r) => r.path === '/gone', 1, 30_000);
    await statusBecomes(webhookId, 'disabled');
    await sleep(2_500);
    expect(receiver.requests.filter((r) => r.path === '/gone')).toHaveLength(1);
    // The webhook's history says Hookpost did it, and why.
    const history = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/${webhookId}/history?limit=1`,
      apiKey,
    );
    expect(history.json.data).toEqual([
      expect.objectContaining({
        type: 'status_changed',
        actor: { kind: 'hookpost' },
        changes: { status: 'disabled', reason: 'gone' },
      }),
    ]);
  });

  it('dead-letters a delivery after the last delay, logs every attempt, and pauses a failing subscription', async () => {
    const { eventId, webhookId } = await subscribeAndSend('/down');
    await receiver.waitFor((r) => r.path === '/down', 3, 30_000);
    await sleep(2_000);
    expect(receiver.requests.filter((r) => r.path === '/down')).toHaveLength(3);
    const dead = kcatConsume(pipeline.brokers, 'hookpost.deliveries.dlq.v1').map(
      (m) => JSON.parse(m.value) as { event: { id: string }; attempt: number },
    );
    expect(dead.filter((job) => job.event.id === eventId)).toEqual([
      expect.objectContaining({ attempt: 3 }),
    ]);

    // Three consecutive failures reach AUTO_PAUSE_AFTER_FAILURES=3: the subscription is failed.
    await statusBecomes(webhookId, 'failed');
    const logs = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/${webhookId}/logs?limit=2`,
      apiKey,
    );
    expect(logs.status).toBe(200);
    const page = logs.json as { data: Array<Record<string, unknown>>; next_cursor: string };
    expect(page.data.map((a) => a.attempt)).toEqual([3, 2]);
    expect(page.data[0]).toMatchObject({
      event_id: eventId,
      status: 'failed',
      http_status: 500,
      next_retry_at: null,
    });
    expect(page.data[1]!.next_retry_at).toEqual(expect.any(String));
    const rest = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/${webhookId}/logs?cursor=${page.next_cursor}`,
      apiKey,
    );
    expect((rest.json.data as Array<{ attempt: number }>).map((a) => a.attempt)).toEqual([1]);

    // Resume clears the failed status.
    const resumed = await http(
      'POST',
      `${pipeline.apiUrl}/v1/webhooks/${webhookId}/resume`,
      apiKey,
    );
    expect(resumed.json).toMatchObject({ status: 'active', active: true });
    // The history tells the pause Hookpost made from the resume its owner made.
    const history = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/${webhookId}/history`,
      apiKey,
    );
    const changes = history.json.data as Array<{ type: string; actor: { kind: string } }>;
    expect(changes.map((c) => [c.type, c.actor.kind])).toEqual([
      ['status_changed', 'api_key'],
      ['status_changed', 'hookpost'],
      ['created', 'api_key'],
    ]);
    expect(changes[1]).toMatchObject({ changes: { status: 'failed', reason: 'auto_pause' } });
  });

  // Last: it leaves the deliverer on another schedule.
  it('still sends the retries waiting on a delay dropped from RETRY_SCHEDULE', async () => {
    await subscribeAndSend('/stranded');
    // The second attempt fails too: its retry waits on the 4 s topic.
    const [, second] = await receiver.waitFor((r) => r.path === '/stranded', 2, 30_000);
    await pipeline.restart('deliverer', 'SIGTERM', { RETRY_SCHEDULE: '2s' });
    const requests = await receiver.waitFor((r) => r.path === '/stranded', 3, 30_000);
    expect(requests[2]!.receivedAt - second!.receivedAt).toBeGreaterThanOrEqual(4_000);
  });
});
