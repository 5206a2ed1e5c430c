import { newId, type AttemptEvent, type AttemptOutcome } from '@hookpost/contracts';
import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import { DeliveryStatsHourly1764000000012 } from '../database/migrations/1764000000012-delivery-stats-hourly.js';
import { appendAttempts, countedPercentiles, DeliveryLog } from './delivery-log.js';

/**
 * Delivery stats over whole hours, read from the hourly counts the log keeps, against a
 * real Postgres (a database of its own): the same answers as from the attempts one by one.
 */
let database: ScratchDatabase;
let dataSource: DataSource;
let log: DeliveryLog;
/** 10:00 UTC, the start of an hour. */
const start = Date.parse('2026-12-07T10:00:00.000Z');
const at = (minute: number) => new Date(start + minute * 60_000).toISOString();

interface Attempt {
  minute: number;
  outcome: AttemptOutcome;
  durationMs: number;
}

/** Attempts of one webhook, in the attempts consumer's shape, each at its minute after 10:00. */
function events(subscriptionId: string, attempts: readonly Attempt[]): AttemptEvent[] {
  return attempts.map(({ minute, outcome, durationMs }, i) => {
    const time = start + minute * 60_000 + i; // ids stay apart within a minute
    const answered = outcome === 'succeeded' || outcome === 'failed';
    return {
      attemptId: newId('attempt', time),
      deliveryId: `dlv_${subscriptionId}_${i}`,
      subscriptionId,
      organizationId: 'org_stats',
      eventId: `evt_${subscriptionId}_${i}`,
      eventType: 'message.delivered',
      attempt: 1,
      outcome,
      httpStatus: outcome === 'succeeded' ? 200 : outcome === 'failed' ? 503 : null,
      durationMs: answered ? durationMs : 0,
      error: null,
      nextRetryAt: null,
      gone: false,
      attemptedAt: new Date(time).toISOString(),
    };
  });
}

async function append(attempts: readonly AttemptEvent[]): Promise<Set<string>> {
  return dataSource.transaction((manager) => appendAttempts(manager, attempts));
}

/**
 * What the stats of a window are, from the attempts one by one: the contract's answer,
 * with each answer time in its duration bucket as Postgres's percentile_disc gives it.
 */
async function expected(subscriptionId: string, since: string, until: string) {
  const [row] = (await dataSource.query(
    `SELECT count(*) FILTER (WHERE outcome = 'succeeded')::int AS succeeded,
            count(*) FILTER (WHERE outcome = 'failed')::int AS failed,
            count(*) FILTER (WHERE outcome = 'short_circuited')::int AS short_circuited,
            count(*) FILTER (WHERE outcome = 'skipped')::int AS skipped,
            percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY hookpost_duration_bucket(duration_ms))
              FILTER (WHERE http_status IS NOT NULL) AS durations,
            max(attempted_at) AS last
     FROM delivery_attempts
     WHERE subscription_id = $1 AND attempted_at >= $2 AND attempted_at < $3`,
    [subscriptionId, since, until],
  )) as Array<{
    succeeded: number;
    failed: number;
    short_circuited: number;
    skipped: number;
    durations: string[] | null;
    last: Date | null;
  }>;
  const { durations, last, ...attempts } = row!;
  return {
    attempts,
    duration_ms: durations && {
      p50: Number(durations[0]),
      p95: Number(durations[1]),
      p99: Number(durations[2]),
    },
    last_attempt_at: last?.toISOString() ?? null,
  };
}

/** Spread over four hours and a half, answer times from 1 ms to about 20 s. */
function busyWebhook(): Attempt[] {
  const outcomes: AttemptOutcome[] = ['succeeded', 'succeeded', 'failed', 'short_circuited'];
  return Array.from({ length: 270 * 4 }, (_, i) => ({
    minute: i / 4,
    outcome: i % 29 === 0 ? 'skipped' : outcomes[i % outcomes.length]!,
    durationMs: Math.round(Math.exp(((i * 7919) % 1000) / 100)),
  }));
}

beforeAll(async () => {
  database = await scratchDatabase('delivery_stats');
  dataSource = createDataSource(database.url, 2);
  await dataSource.initialize();
  await migrate(dataSource);
  log = new DeliveryLog(dataSource);
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

describe('delivery stats over whole hours', () => {
  const webhook = 'wh_01JDSTATSHOURS00000000000A';

  it('keeps hourly counts of the log as it is written, and answers any window as the attempts one by one would', async () => {
    await append(events(webhook, busyWebhook()));
    const hours = (await dataSource.query(
      `SELECT hour, succeeded::int + failed::int + short_circuited::int + skipped::int AS attempts
       FROM delivery_stats_hourly WHERE subscription_id = $1 ORDER BY hour`,
      [webhook],
    )) as Array<{ hour: Date; attempts: number }>;
    expect(hours.map((h) => [h.hour.toISOString(), h.attempts])).toEqual([
      [at(0), 240],
      [at(60), 240],
      [at(120), 240],
      [at(180), 240],
      [at(240), 120],
    ]);
    // Within an hour, across one boundary, whole hours only, and hours with minutes
    // either side: the last three read whole hours from the counts.
    for (const [since, until] of [
      [at(5), at(50)],
      [at(30), at(90)],
      [at(60), at(180)],
      [at(17.5), at(250.25)],
      [at(-600), at(600)],
    ] as const) {
      const stats = await log.stats(webhook, since, until);
      expect(stats, `${since} to ${until}`).toMatchObject(await expected(webhook, since, until));
      expect(stats.success_rate).toBe(
        Math.round(
          (stats.attempts.succeeded / (stats.attempts.succeeded + stats.attempts.failed)) * 10_000,
        ) / 10_000,
      );
    }
  });

  it('reports an answer time rounded up to its bucket: exact below 64 ms, then within 1/32', async () => {
    const durations = [1, 63, 64, 100, 1_000, 10_000, 19_999];
    const buckets = (await dataSource.query(
      'SELECT hookpost_duration_bucket(ms)::int AS bucket FROM unnest($1::int[]) AS ms',
      [durations],
    )) as Array<{ bucket: number }>;
    expect(buckets.map((b) => b.bucket)).toEqual([1, 63, 65, 101, 1_007, 10_239, 20_479]);
    for (const [i, ms] of durations.entries())
      expect(buckets[i]!.bucket - ms).toBeLessThanOrEqual(ms / 32);
  });

  it('counts an attempt the log already had once, when its batch is read again', async () => {
    const webhook = 'wh_01JDSTATSHOURS00000000000B';
    const batch = events(webhook, [
      { minute: 70, outcome: 'succeeded', durationMs: 12 },
      { minute: 71, outcome: 'failed', durationMs: 300 },
    ]);
    expect((await append(batch)).size).toBe(2);
    expect((await append(batch)).size).toBe(0);
    const later = events(webhook, [{ minute: 72, outcome: 'succeeded', durationMs: 14 }]);
    expect((await append([...batch, ...later])).size).toBe(1);
    expect(await log.stats(webhook, at(0), at(180))).toMatchObject({
      attempts: { succeeded: 2, failed: 1, short_circuited: 0, skipped: 0 },
      duration_ms: { p50: 14, p95: 303, p99: 303 },
      last_attempt_at: at(72),
    });
  });

  it('counts the log it finds when the counts are first made', async () => {
    const webhook = 'wh_01JDSTATSHOURS00000000000C';
    const migration = new DeliveryStatsHourly1764000000012();
    const runner = dataSource.createQueryRunner();
    // Each in a transaction of its own, as migrations run.
    const inTransaction = async (step: () => Promise<void>) => {
      await runner.startTransaction();
      await step();
      await runner.commitTransaction();
    };
    try {
      await inTransaction(() => migration.down(runner));
      // Logged by a release before the counts: no trigger, no counts.
      await append(events(webhook, busyWebhook()));
      await inTransaction(() => migration.up(runner));
    } finally {
      await runner.release();
    }
    for (const [since, until] of [
      [at(60), at(180)],
      [at(17.5), at(250.25)],
    ] as const)
      expect(await log.stats(webhook, since, until)).toMatchObject(
        await expected(webhook, since, until),
      );
    // And keeps counting from there.
    await append(events(webhook, [{ minute: 100, outcome: 'failed', durationMs: 2 }]));
    expect((await log.stats(webhook, at(60), at(180))).attempts).toEqual(
      (await expected(webhook, at(60), at(180))).attempts,
    );
  });
});

describe('the migrations', () => {
  it("run without the API's statement timeout, since one may count the whole log", async () => {
    const timeout = async (options?: { unbounded: boolean }) => {
      const source = createDataSource(database.url, 1, options);
      await source.initialize();
      try {
        const [row] = (await source.query('SHOW statement_timeout')) as Array<{
          statement_timeout: string;
        }>;
        return row!.statement_timeout;
      } finally {
        await source.destroy();
      }
    };
    expect(await timeout()).toBe('10s');
    expect(await timeout({ unbounded: true })).toBe('0');
  });
});

describe('counted percentiles', () => {
  it("agree with Postgres's percentile_disc over the values one by one", async () => {
    for (const values of [[5], [1, 2, 3, 4], [7, 7, 7, 1, 300, 2, 2, 9_000, 45, 45, 45, 45]]) {
      const counts = new Map<number, number>();
      for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
      const [row] = (await dataSource.query(
        `SELECT percentile_disc(ARRAY[0.01, 0.25, 0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY v) AS p
         FROM unnest($1::int[]) AS v`,
        [values],
      )) as Array<{ p: number[] }>;
      expect(countedPercentiles(counts, [0.01, 0.25, 0.5, 0.95, 0.99, 1])).toEqual(row!.p);
    }
    expect(countedPercentiles(new Map(), [0.5])).toBeNull();
  });
});
