import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { newId, type AttemptEvent } from '../../libs/contracts/src/index.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { removeDataDirs, startPostgres } from '../infra/postgres.ts';
import { optionValue } from './options.ts';
import { percentile, round } from './stats.ts';

/**
 * What a webhook's delivery stats (`GET /v1/webhooks/{id}/stats`) cost to answer for a
 * busy webhook, and what keeping them costs the delivery log (ADR 0022):
 *
 * - the API's answer (whole hours from the hourly counts, the minutes either side from
 *   the log), against one pass over the window's attempts in the log, for windows of an
 *   hour, a day and a month;
 * - Postgres's CPU time and WAL per attempt logged, in the attempts consumer's statement, with
 *   the trigger that keeps the hourly counts and without it.
 *
 *   npm run bench:delivery-stats [-- --per-day=1000000]   on an embedded Postgres of its own
 *   DATABASE_URL=... npm run bench:delivery-stats           on another (it creates a database
 *                                                           there, and drops it)
 *
 * It runs the API as built (`npm run build` first). Postgres's CPU is read from /proc, so
 * Postgres must run on this machine.
 */

/** The busy webhook's attempts in the last day, among as many of nine other webhooks. */
const PER_DAY = Number(optionValue(process.argv.slice(2), 'per-day') ?? 1_000_000);
if (!Number.isInteger(PER_DAY) || PER_DAY < 1)
  throw new Error('--per-day: a whole number of attempts, at least 1');
const BATCH = 5_000;
/** Attempts a statement when the cost of logging is measured: a batch of the consumer's. */
const LOGGED_BATCH = 200;
const HOUR_MS = 3_600_000;

interface StatsReader {
  stats(id: string, since: string, until: string): Promise<{ attempts: Record<string, number> }>;
}
interface Api {
  DeliveryLog: new (dataSource: DataSource) => StatsReader;
  appendAttempts(db: unknown, attempts: AttemptEvent[]): Promise<Set<string>>;
  createDataSource(url: string, poolSize: number): DataSource;
  migrate(dataSource: DataSource): Promise<unknown>;
}
const dist = new URL('../../apps/subscription-api/dist/', import.meta.url);
const api = {
  ...(await import(new URL('deliveries/delivery-log.js', dist).href)),
  ...(await import(new URL('database/data-source.js', dist).href)),
} as Api;

const BUSY = 'wh_01JDBENCHSTATS00000000000';

function attempt(subscriptionId: string, time: number, i: number): AttemptEvent {
  const failed = i % 20 === 0;
  return {
    attemptId: newId('attempt', time),
    deliveryId: `dlv_bench_${i}`,
    subscriptionId,
    organizationId: 'org_bench',
    eventId: `evt_bench_${i}`,
    eventType: 'message.delivered',
    attempt: 1,
    outcome: failed ? 'failed' : 'succeeded',
    httpStatus: failed ? 503 : 200,
    durationMs: 20 + ((i * 7919) % 400),
    error: null,
    nextRetryAt: null,
    gone: false,
    attemptedAt: new Date(time).toISOString(),
  };
}

const ticksPerSecond = 100;
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Milliseconds each way of answering takes: the median of five, after one to warm up. */
async function timed(run: () => Promise<unknown>): Promise<number> {
  await run();
  const spans: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await run();
    spans.push(performance.now() - started);
  }
  return round(
    percentile(
      spans.sort((a, b) => a - b),
      50,
    ),
    1,
  );
}

/** The answer as one pass over the window's attempts would give it (the API's before 0012). */
function onePass(db: pg.Client, since: string, until: string) {
  return db.query(
    `SELECT count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
            count(*) FILTER (WHERE outcome = 'failed') AS failed,
            percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)
              FILTER (WHERE http_status IS NOT NULL) AS durations,
            max(attempted_at) AS last_attempt_at
     FROM delivery_attempts
     WHERE subscription_id = $1 AND attempted_at >= $2 AND attempted_at < $3`,
    [BUSY, since, until],
  );
}

const dataDir = `${tmpdir()}/hookpost-delivery-stats-${process.pid}`;
const own = process.env.DATABASE_URL
  ? undefined
  : await startPostgres({ dataDir, port: await freePort() });
const serverUrl = process.env.DATABASE_URL ?? own!.url;
const database = `hookpost_bench_stats_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${database}`);
const url = new URL(serverUrl);
url.pathname = `/${database}`;
const dataSource = api.createDataSource(url.toString(), 2);
const db = new pg.Client({ connectionString: url.toString() });
try {
  await dataSource.initialize();
  await api.migrate(dataSource);
  await db.connect();
  const log = new api.DeliveryLog(dataSource);

  // A day of the busy webhook's attempts, each beside one of another webhook's, ending
  // now: what a month of them is read as, per day, in a month's window.
  const now = Date.now();
  const started = performance.now();
  for (let first = 0; first < PER_DAY; first += BATCH) {
    const batch: AttemptEvent[] = [];
    for (let i = first; i < Math.min(first + BATCH, PER_DAY); i++) {
      const time = now - HOUR_MS * 24 + Math.floor((i * HOUR_MS * 24) / PER_DAY);
      batch.push(attempt(BUSY, time, i), attempt(`wh_01JDBENCHOTHER0000000000${i % 9}`, time, i));
    }
    await dataSource.transaction((manager) => api.appendAttempts(manager, batch));
  }
  const loadSeconds = round((performance.now() - started) / 1000, 1);
  await db.query('VACUUM ANALYZE');

  const until = new Date(now).toISOString();
  const windows = [
    ['the last hour', HOUR_MS],
    ['the last day', 24 * HOUR_MS],
    ['the last 31 days', 31 * 24 * HOUR_MS],
  ] as const;
  const stats: Record<string, { api_ms: number; one_pass_ms: number; attempts: number }> = {};
  for (const [name, span] of windows) {
    const since = new Date(now - span).toISOString();
    const answer = await log.stats(BUSY, since, until);
    stats[name] = {
      api_ms: await timed(() => log.stats(BUSY, since, until)),
      one_pass_ms: await timed(() => onePass(db, since, until)),
      attempts: Object.values(answer.attempts).reduce((a, b) => a + b, 0),
    };
  }

  // Postgres's CPU and WAL per attempt logged, in batches as the consumer writes them,
  // with the trigger that keeps the hourly counts and with it disabled: the batch's
  // attempts spread over 10 webhooks (20 each to add to an hour's counts), and over 200
  // (one each: an upsert per attempt, the most the counts can cost).
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  const [{ pid }] = (await runner.query('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
  const walPosition = async () =>
    ((await runner.query('SELECT pg_current_wal_insert_lsn() AS lsn')) as [{ lsn: string }])[0].lsn;
  const costPerAttempt = async (webhooks: number) => {
    const batches = Array.from({ length: 100 }, (_, b) =>
      Array.from({ length: LOGGED_BATCH }, (_, i) =>
        attempt(`wh_bench_logged_${i % webhooks}`, Date.now(), b * LOGGED_BATCH + i),
      ),
    );
    const cpu = cpuSeconds(pid);
    const wal = await walPosition();
    for (const batch of batches) {
      await runner.startTransaction();
      await api.appendAttempts(runner.manager, batch);
      await runner.commitTransaction();
    }
    const [{ bytes }] = (await runner.query('SELECT pg_wal_lsn_diff($1, $2)::float8 AS bytes', [
      await walPosition(),
      wal,
    ])) as [{ bytes: number }];
    return {
      cpu_us: round(((cpuSeconds(pid) - cpu) * 1e6) / (100 * LOGGED_BATCH), 1),
      wal_bytes: Math.round(bytes / (100 * LOGGED_BATCH)),
    };
  };
  // Three rounds each way, in turn; the least of each figure is reported, the one least
  // disturbed by whatever else the machine did meanwhile.
  const logging: Record<string, { cpu_us: number; wal_bytes: number }> = {};
  const keep = (name: string, figures: { cpu_us: number; wal_bytes: number }) => {
    const best = logging[name];
    logging[name] = best
      ? {
          cpu_us: Math.min(best.cpu_us, figures.cpu_us),
          wal_bytes: Math.min(best.wal_bytes, figures.wal_bytes),
        }
      : figures;
  };
  for (let roundNumber = 0; roundNumber < 3; roundNumber++)
    for (const webhooks of [10, 200]) {
      keep(`${webhooks} webhooks a statement, with the counts`, await costPerAttempt(webhooks));
      await runner.query('ALTER TABLE delivery_attempts DISABLE TRIGGER delivery_attempts_stats');
      keep(`${webhooks} webhooks a statement, without`, await costPerAttempt(webhooks));
      await runner.query('ALTER TABLE delivery_attempts ENABLE TRIGGER delivery_attempts_stats');
    }
  await runner.release();

  process.stdout.write(
    `${JSON.stringify(
      {
        busy_webhook_attempts_per_day: PER_DAY,
        other_attempts_per_day: PER_DAY,
        load_seconds: loadSeconds,
        stats,
        postgres_per_attempt_logged: { attempts_a_statement: LOGGED_BATCH, ...logging },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await db.end().catch(() => undefined);
  await dataSource.destroy().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
  if (own) {
    await own.stop();
    removeDataDirs(dataDir);
  }
}
