import { deriveId, newId, type AttemptOutcome } from '@hookpost/contracts';
import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import { logsQuery, statsQuery } from '../webhooks/webhooks.schemas.js';
import { DeliveryLog, type AttemptView } from './delivery-log.js';

/** The delivery log's filters against a real Postgres (a database of its own). */
let database: ScratchDatabase;
let dataSource: DataSource;
let log: DeliveryLog;
const webhook = 'wh_01JDLOGFILTERS00000000000A';
const other = 'wh_01JDLOGFILTERS00000000000B';
const start = Date.parse('2026-12-07T10:00:00.000Z');

interface Row {
  subscription: string;
  event: string;
  type: string;
  outcome: AttemptOutcome;
  minute: number;
  attempt?: number;
}

/** Each attempt took ten times its minute's number plus ten, in ms: 10, 20, 30, ... */
const durationAt = (minute: number) => (minute + 1) * 10;

/** One attempt a minute after `start`, in the shape the attempts consumer writes. */
async function insert(rows: Row[]): Promise<void> {
  for (const row of rows) {
    const at = start + row.minute * 60_000;
    await dataSource.query(
      `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id,
         event_id, event_type, attempt, outcome, http_status, duration_ms, error, next_retry_at,
         attempted_at)
       VALUES ($1, $2, $3, 'org_log', $4, $5, $6, $7, $8, $9, NULL, NULL, $10)`,
      [
        newId('attempt', at),
        deriveId('delivery', row.event, row.subscription),
        row.subscription,
        row.event,
        row.type,
        row.attempt ?? 1,
        row.outcome,
        row.outcome === 'succeeded' ? 200 : row.outcome === 'failed' ? 503 : null,
        row.outcome === 'succeeded' || row.outcome === 'failed' ? durationAt(row.minute) : 0,
        new Date(at),
      ],
    );
  }
}

/** A page as the REST route gives it: the query string's values through its schema. */
async function page(query: Record<string, unknown>, subscription = webhook) {
  const parsed = logsQuery.parse(query);
  return log.page(subscription, parsed.limit, parsed);
}
const minutes = (data: AttemptView[]) =>
  data.map((a) => (Date.parse(a.attempted_at) - start) / 60_000);

beforeAll(async () => {
  database = await scratchDatabase('delivery_log');
  dataSource = createDataSource(database.url, 2);
  await dataSource.initialize();
  await migrate(dataSource);
  log = new DeliveryLog(dataSource);
  // Minute by minute: deliveries of events e0..e9, e3 and e7 failing then retried.
  await insert([
    ...Array.from({ length: 10 }, (_, i) => ({
      subscription: webhook,
      event: `evt_e${i}`,
      type: i % 2 === 0 ? 'message.delivered' : 'message.bounced',
      outcome: (i === 3 || i === 7 ? 'failed' : 'succeeded') as AttemptOutcome,
      minute: i,
    })),
    {
      subscription: webhook,
      event: 'evt_e3',
      type: 'message.bounced',
      outcome: 'failed',
      minute: 10,
      attempt: 2,
    },
    {
      subscription: webhook,
      event: 'evt_e3',
      type: 'message.bounced',
      outcome: 'succeeded',
      minute: 11,
      attempt: 3,
    },
    {
      subscription: webhook,
      event: 'evt_e7',
      type: 'message.bounced',
      outcome: 'short_circuited',
      minute: 12,
      attempt: 2,
    },
    { subscription: other, event: 'evt_e3', type: 'message.bounced', outcome: 'failed', minute: 5 },
  ]);
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

describe('delivery log filters', () => {
  it('lists every attempt of the webhook, newest first, without filters', async () => {
    const { data } = await page({ limit: 100 });
    expect(minutes(data)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });

  it('narrows by outcome, given as a list either way, and pages through what matches', async () => {
    expect(minutes((await page({ status: 'failed' })).data)).toEqual([10, 7, 3]);
    expect(minutes((await page({ status: 'failed,short_circuited' })).data)).toEqual([
      12, 10, 7, 3,
    ]);
    expect(minutes((await page({ status: ['short_circuited', 'failed'] })).data)).toEqual([
      12, 10, 7, 3,
    ]);
    const first = await page({ status: 'failed', limit: 2 });
    expect(minutes(first.data)).toEqual([10, 7]);
    const second = await page({ status: 'failed', limit: 2, cursor: first.next_cursor });
    expect(minutes(second.data)).toEqual([3]);
    expect(second.next_cursor).toBeNull();
    expect(minutes((await page({ status: 'succeeded', limit: 3 })).data)).toEqual([11, 9, 8]);
  });

  it('narrows by event type, alias or wildcard, as a subscription names them', async () => {
    expect(minutes((await page({ event_type: 'message.delivered' })).data)).toEqual([
      8, 6, 4, 2, 0,
    ]);
    expect(minutes((await page({ event_type: 'delivered', status: 'succeeded' })).data)).toEqual([
      8, 6, 4, 2, 0,
    ]);
    expect((await page({ event_type: 'message.*', limit: 100 })).data).toHaveLength(13);
    expect((await page({ event_type: 'message.opened' })).data).toEqual([]);
  });

  it('gives every attempt of one delivery, or of one event, and only this webhook’s', async () => {
    const delivery = deriveId('delivery', 'evt_e3', webhook);
    const byDelivery = await page({ delivery_id: delivery });
    expect(byDelivery.data.map((a) => a.attempt)).toEqual([3, 2, 1]);
    expect((await page({ event_id: 'evt_e3' })).data.map((a) => a.attempt)).toEqual([3, 2, 1]);
    expect((await page({ event_id: 'evt_e3' }, other)).data.map((a) => a.attempt)).toEqual([1]);
    expect((await page({ event_id: 'evt_nowhere' })).data).toEqual([]);
  });

  it('narrows to a window of attempt times, since inclusive and until exclusive', async () => {
    const at = (minute: number) => new Date(start + minute * 60_000).toISOString();
    expect(minutes((await page({ since: at(9) })).data)).toEqual([12, 11, 10, 9]);
    expect(minutes((await page({ until: at(2) })).data)).toEqual([1, 0]);
    expect(minutes((await page({ since: at(3), until: at(8), status: 'failed' })).data)).toEqual([
      7, 3,
    ]);
    expect(
      minutes((await page({ since: '2026-12-07T11:05:00+01:00', until: at(6) })).data),
    ).toEqual([5]);
  });

  it('names each bad filter', () => {
    const issues = logsQuery.safeParse({
      status: 'failed,exploded',
      event_type: 'message.nope',
      delivery_id: 'wh_01JDLOGFILTERS00000000000A',
      since: '2026-12-07T10:00:00Z',
      until: '2026-12-07T09:00:00Z',
    }).error!.issues;
    const fields = issues.map((issue) => [issue.path.join('.'), issue.message]);
    expect(fields).toEqual(
      expect.arrayContaining([
        ['status.1', expect.stringMatching(/must be one of succeeded, failed/)],
        ['event_type', 'unknown event type "message.nope"'],
        ['delivery_id', 'must be a delivery id (del_...)'],
      ]),
    );
    expect(logsQuery.safeParse({ since: 'yesterday' }).error!.issues[0]!.message).toBe(
      'must be an ISO-8601 time',
    );
    expect(
      logsQuery.safeParse({ since: '2026-12-07T10:00:00Z', until: '2026-12-07T09:00:00Z' }).error!
        .issues,
    ).toEqual([expect.objectContaining({ path: ['until'], message: 'must be after since' })]);
  });
});

describe('delivery stats', () => {
  const at = (minute: number) => new Date(start + minute * 60_000).toISOString();

  it('counts the attempts of a window by outcome, with the share that succeeded and the answer times', async () => {
    // Minutes 0 to 12: nine successes, three failures (3, 7, 10), one short-circuited (12).
    expect(await log.stats(webhook, at(0), at(13))).toEqual({
      since: at(0),
      until: at(13),
      attempts: { succeeded: 9, failed: 3, short_circuited: 1, skipped: 0 },
      success_rate: 0.75,
      // Over the twelve answered attempts, 10 to 120 ms; from 64 ms up, as the top of its
      // duration bucket (within 1/32 of it).
      duration_ms: { p50: 60, p95: 121, p99: 121 },
      last_attempt_at: at(12),
      failure_streak: 0,
    });
    // Minutes 3 to 7: failures at 3 and 7; answers of 40 to 80 ms.
    expect(await log.stats(webhook, at(3), at(8))).toMatchObject({
      attempts: { succeeded: 3, failed: 2, short_circuited: 0, skipped: 0 },
      success_rate: 0.6,
      duration_ms: { p50: 60, p95: 81, p99: 81 },
      last_attempt_at: at(7),
    });
  });

  it('answers an empty window with zeros, and nothing to compute from', async () => {
    expect(await log.stats(webhook, at(20), at(30))).toMatchObject({
      attempts: { succeeded: 0, failed: 0, short_circuited: 0, skipped: 0 },
      success_rate: null,
      duration_ms: null,
      last_attempt_at: null,
    });
  });

  it("gives the webhook's failure streak as it stands, and counts only its own attempts", async () => {
    await dataSource.query(
      `INSERT INTO subscription_health (subscription_id, consecutive_failures, last_attempt_at)
       VALUES ($1, 4, now())`,
      [other],
    );
    expect(await log.stats(other, at(0), at(13))).toMatchObject({
      attempts: { succeeded: 0, failed: 1, short_circuited: 0, skipped: 0 },
      success_rate: 0,
      failure_streak: 4,
    });
  });

  it('takes the last 24 hours by default, and names a bad window', () => {
    const before = Date.now();
    const window = statsQuery.parse({});
    expect(Date.parse(window.until)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(window.until) - Date.parse(window.since)).toBe(86_400_000);
    expect(statsQuery.parse({ until: at(0) })).toEqual({
      since: '2026-12-06T10:00:00.000Z',
      until: at(0),
    });
    const problems = (query: Record<string, unknown>) =>
      statsQuery.safeParse(query).error!.issues.map((i) => [i.path.join('.'), i.message]);
    expect(problems({ since: at(5), until: at(5) })).toEqual([['until', 'must be after since']]);
    expect(problems({ since: '2999-01-01T00:00:00Z' })).toEqual([['since', 'must be in the past']]);
    expect(problems({ since: '2026-10-01T00:00:00Z', until: at(0) })).toEqual([
      ['since', 'must be at most 31 days before until'],
    ]);
    expect(problems({ since: 'yesterday' })).toEqual([['since', 'must be an ISO-8601 time']]);
    expect(problems({ window: '1d' })[0]![0]).toBe('');
  });
});
