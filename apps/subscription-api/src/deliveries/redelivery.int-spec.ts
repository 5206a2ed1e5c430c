import { deriveId, type DeliveryJob, type SubscriptionState } from '@hookpost/contracts';
import type { KafkaProducer, OutgoingMessage } from '@hookpost/platform';
import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../auth/guards.js';
import { createDataSource, migrate } from '../database/data-source.js';
import { ApiError } from '../http/api-error.js';
import { RateLimits } from '../rate-limits/rate-limits.js';
import type { WebhooksService } from '../webhooks/webhooks.service.js';
import { RedeliveryService } from './redelivery.service.js';
import { ReplayLocks } from './replay-locks.js';

/** Retry and replay against a real Postgres (a database of its own), jobs recorded. */
let database: ScratchDatabase;
let dataSource: DataSource;
const unlimited = new RateLimits({ API_RATE_LIMIT: 0, API_SEND_RATE_LIMIT: 0 });

const subscription: SubscriptionState = {
  id: 'wh_replay',
  organizationId: 'org_replay',
  url: 'https://example.com/hooks',
  events: ['message.delivered'],
  scope: { domains: [], mailboxes: [] },
  headers: {},
  format: 'standard',
  description: null,
  status: 'active',
  secret: 'v1.k.iv.ct.tag',
  previousSecret: null,
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  deleted: false,
};
const webhooks = { state: () => Promise.resolve(subscription) } as unknown as WebhooksService;
const sent: OutgoingMessage[] = [];
const producer = {
  send: (messages: OutgoingMessage[]) => {
    sent.push(...messages);
    return Promise.resolve();
  },
} as unknown as KafkaProducer;
const principal = { organizationId: subscription.organizationId } as Principal;

/** The service on this database, sending with `via`, limited by `limits`. */
const redelivery = (via: KafkaProducer = producer, limits: RateLimits = unlimited) =>
  new RedeliveryService(webhooks, dataSource, via, limits, new ReplayLocks(dataSource));

/** A canonical `message.delivered` event in the event log, as the event-log consumer stores it. */
async function storeEvent(id: string, occurredAt: string, messageId = id): Promise<void> {
  const event = {
    id,
    type: 'message.delivered',
    organization_id: subscription.organizationId,
    occurred_at: occurredAt,
    received_at: occurredAt,
    source: { format: 'canonical' },
    data: { message_id: messageId },
  };
  await dataSource.query(
    `INSERT INTO mail_events (event_id, organization_id, message_id, type, occurred_at, event)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [id, event.organization_id, messageId, event.type, occurredAt, event],
  );
}

/** Attempt `n` of the subscription's delivery of `eventId`, in the delivery log. */
async function storeAttempt(
  eventId: string,
  n: number,
  outcome: string,
  nextRetryAt: Date | null = null,
): Promise<void> {
  await dataSource.query(
    `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id,
       event_id, event_type, attempt, outcome, http_status, duration_ms, error, next_retry_at, attempted_at)
     VALUES ($1, $2, $3, $4, $5, 'message.delivered', $6, $7, NULL, 5, NULL, $8, now())`,
    [
      `att_${eventId}_${n}`,
      deriveId('delivery', eventId, subscription.id),
      subscription.id,
      subscription.organizationId,
      eventId,
      n,
      outcome,
      nextRetryAt,
    ],
  );
}

beforeAll(async () => {
  database = await scratchDatabase('replay');
  dataSource = createDataSource(database.url, 2);
  await dataSource.initialize();
  await migrate(dataSource);
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

describe('redelivery', () => {
  it('replays a window too large for one call whole, over calls that each go on where the last stopped', async () => {
    // Stored in an order of their own (late arrivals, several ingest partitions): the
    // minute each occurred at, in the order they arrived. Two occurred at once, at 3.
    const stored = ['5', '1', '9', '3', '7', '2', '8', '3b', '4', '6', '10'];
    const at = (minute: number) => new Date(Date.UTC(2026, 5, 1, 12, minute)).toISOString();
    for (const tag of stored)
      await storeEvent(`evt_replay_minute_${tag}`, at(parseInt(tag, 10)), `m${tag}`);
    const service = redelivery();
    const until = new Date(at(20));
    let since = new Date(at(0));
    const calls: number[] = [];
    for (let call = 0; call < 10; call++) {
      try {
        const done = await service.replay(
          principal,
          subscription.id,
          { since, until, failedOnly: false },
          3,
        );
        calls.push(done.queued);
        break;
      } catch (error) {
        expect(error).toBeInstanceOf(ApiError);
        const { status, code, message } = error as ApiError;
        expect([status, code]).toEqual([413, 'replay_too_large']);
        calls.push(Number(/(\d+) were queued/.exec(message)![1]));
        since = new Date(/with since (\S+)$/.exec(message)![1]!);
      }
    }
    const replayed = sent.map((m) => (JSON.parse(m.value!.toString()) as DeliveryJob).event.id);
    // Each once, in the order they occurred (arrival breaks the tie). Three a call at most,
    // but the instant of the third whole: the first call takes both of minute 3.
    expect(replayed).toEqual(
      ['1', '2', '3', '3b', '4', '5', '6', '7', '8', '9', '10'].map(
        (t) => `evt_replay_minute_${t}`,
      ),
    );
    expect(calls).toEqual([4, 3, 3, 1]);
  });
  it('keeps no attempt number for a retry by hand whose job could not be sent', async () => {
    await storeEvent('evt_retry_by_hand_1', new Date().toISOString(), 'retried');
    await storeAttempt('evt_retry_by_hand_1', 1, 'failed');
    const deliveryId = deriveId('delivery', 'evt_retry_by_hand_1', subscription.id);
    const down = {
      send: () => Promise.reject(new Error('broker unavailable')),
    } as unknown as KafkaProducer;
    await expect(redelivery(down).retry(principal, subscription.id, deliveryId)).rejects.toThrow(
      'broker unavailable',
    );
    // Kafka is back: the retry goes as attempt 2, and one more before it is logged waits.
    const service = redelivery();
    expect(await service.retry(principal, subscription.id, deliveryId)).toEqual({
      delivery_id: deliveryId,
      attempt: 2,
    });
    await expect(service.retry(principal, subscription.id, deliveryId)).rejects.toMatchObject({
      status: 409,
      code: 'retry_pending',
    });
  });
  it('replays each delivery as its next attempt, and leaves one whose retry is pending to it', async () => {
    const at = new Date(Date.UTC(2026, 6, 1, 12, 0)).toISOString();
    const ids = ['evt_replay_pending_1', 'evt_replay_dead_1', 'evt_replay_fresh_1'];
    for (const id of ids) await storeEvent(id, at);
    // The first has its third attempt due in an hour; the second died after its third.
    await storeAttempt(ids[0]!, 2, 'failed', new Date(Date.now() + 3_600_000));
    await storeAttempt(ids[1]!, 3, 'failed');
    const before = sent.length;
    const service = redelivery();
    const done = await service.replay(principal, subscription.id, {
      since: new Date(Date.UTC(2026, 6, 1)),
      until: new Date(Date.UTC(2026, 6, 2)),
      failedOnly: false,
    });
    expect(done.queued).toBe(2);
    const jobs = sent.slice(before).map((m) => JSON.parse(m.value!.toString()) as DeliveryJob);
    expect(jobs.map((job) => [job.event.id, job.attempt])).toEqual([
      ['evt_replay_dead_1', 4],
      ['evt_replay_fresh_1', 1],
    ]);
  });

  it('replays only the deliveries that never succeeded when asked to', async () => {
    const at = new Date(Date.UTC(2026, 7, 1, 12, 0)).toISOString();
    // Succeeded; failed for good; failed, then succeeded by hand; put off by a breaker;
    // skipped while paused; never attempted (from before the subscription matched it).
    const outcomes: Record<string, string[]> = {
      ok: ['succeeded'],
      dead: ['failed', 'failed'],
      healed: ['failed', 'succeeded'],
      broken: ['short_circuited'],
      paused: ['skipped'],
      never: [],
    };
    for (const [name, attempts] of Object.entries(outcomes)) {
      await storeEvent(`evt_recover_${name}`, at);
      for (const [i, outcome] of attempts.entries())
        await storeAttempt(`evt_recover_${name}`, i + 1, outcome);
    }
    const service = redelivery();
    const window = { since: new Date(Date.UTC(2026, 7, 1)), until: new Date(Date.UTC(2026, 7, 2)) };
    const replayed = async (failedOnly: boolean) => {
      const before = sent.length;
      const done = await service.replay(principal, subscription.id, { ...window, failedOnly });
      const jobs = sent.slice(before).map((m) => JSON.parse(m.value!.toString()) as DeliveryJob);
      expect(done).toMatchObject({ queued: jobs.length, failed_only: failedOnly });
      return jobs.map((job) => [job.event.id.replace('evt_recover_', ''), job.attempt]).sort();
    };
    expect(await replayed(true)).toEqual([
      ['broken', 2],
      ['dead', 3],
      ['paused', 2],
    ]);
    expect(await replayed(false)).toEqual([
      ['broken', 2],
      ['dead', 3],
      ['healed', 3],
      ['never', 1],
      ['ok', 2],
      ['paused', 2],
    ]);
  });

  it('refuses a replay while another replica replays the webhook, and counts no send for it', async () => {
    const oneSend = new RateLimits({ API_RATE_LIMIT: 0, API_SEND_RATE_LIMIT: 1 });
    const service = redelivery(producer, oneSend);
    const window = {
      since: new Date(Date.UTC(2026, 8, 1)),
      until: new Date(Date.UTC(2026, 8, 2)),
      failedOnly: false,
    };
    let finish!: () => void;
    const elsewhere = createDataSource(database.url, 1);
    await elsewhere.initialize();
    try {
      const held = new ReplayLocks(elsewhere).hold(
        subscription.id,
        () => new Promise<void>((resolve) => (finish = resolve)),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      await expect(service.replay(principal, subscription.id, window)).rejects.toMatchObject({
        status: 409,
        code: 'replay_in_progress',
      });
      finish();
      await held;
    } finally {
      await elsewhere.destroy();
    }
    // The minute's one send is still there.
    await expect(service.replay(principal, subscription.id, window)).resolves.toMatchObject({
      queued: 0,
    });
    await expect(service.replay(principal, subscription.id, window)).rejects.toMatchObject({
      status: 429,
    });
  });
});
