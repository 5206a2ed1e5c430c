import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each webhook's attempts counted per hour (ADR 0022): what delivery stats read for the
 * whole hours of a window, instead of one index entry and row per attempt.
 *
 * Kept by a trigger on the delivery log, per statement (one upsert per webhook and hour of
 * a batch, not one per attempt): whatever writes the log keeps the counts, including a
 * replica still running the release before this one, and an attempt the log already had
 * (a batch read again) is not in the statement's new rows, so it is never counted twice.
 *
 * Answer times are kept as counts per duration bucket (`durations`: the bucket's highest
 * value in ms -> attempts): exact below 64 ms, and above that 32 buckets per doubling, so
 * a bucket's highest value is at most 1/32 over any in it.
 *
 * The log is locked against writes while the counts of what it holds are made, so that
 * nothing is written between the count and the trigger; reads go on.
 */
export class DeliveryStatsHourly1764000000012 implements MigrationInterface {
  name = 'DeliveryStatsHourly1764000000012';

  async up(db: QueryRunner): Promise<void> {
    // One expression, no FROM: Postgres inlines it into the statements that call it,
    // instead of calling a function per attempt. The shift is the duration's bit length
    // less six: what is left of it is 32 to 63.
    const shift = `(length(ltrim(ms::bit(32)::text, '0')) - 6)`;
    await db.query(`
      CREATE FUNCTION hookpost_duration_bucket(ms integer) RETURNS bigint
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN ms < 64 THEN greatest(ms, 0)::bigint
               ELSE (((ms::bigint >> ${shift}) + 1) << ${shift}) - 1 END
      $$`);
    await db.query(`
      CREATE TABLE delivery_stats_hourly (
        subscription_id  text NOT NULL,
        hour             timestamptz NOT NULL,
        succeeded        bigint NOT NULL,
        failed           bigint NOT NULL,
        short_circuited  bigint NOT NULL,
        skipped          bigint NOT NULL,
        durations        jsonb NOT NULL,
        last_attempt_at  timestamptz NOT NULL,
        PRIMARY KEY (subscription_id, hour)
      )`);
    // The retention purge removes whole hours, by time.
    await db.query(`CREATE INDEX delivery_stats_hourly_hour ON delivery_stats_hourly (hour)`);
    await db.query(`
      CREATE FUNCTION delivery_stats_hourly_add() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        ${rollup('logged')}
        ON CONFLICT (subscription_id, hour) DO UPDATE SET
          succeeded = s.succeeded + EXCLUDED.succeeded,
          failed = s.failed + EXCLUDED.failed,
          short_circuited = s.short_circuited + EXCLUDED.short_circuited,
          skipped = s.skipped + EXCLUDED.skipped,
          -- The buckets of the batch added to those of the hour: the work is the batch's
          -- buckets, not all of the hour's.
          durations = s.durations || coalesce((
            SELECT jsonb_object_agg(key, value::bigint + coalesce((s.durations ->> key)::bigint, 0))
            FROM jsonb_each_text(EXCLUDED.durations)), '{}'::jsonb),
          last_attempt_at = greatest(s.last_attempt_at, EXCLUDED.last_attempt_at);
        RETURN NULL;
      END
      $$`);
    await db.query(`LOCK TABLE delivery_attempts IN SHARE ROW EXCLUSIVE MODE`);
    await db.query(rollup('delivery_attempts'));
    await db.query(`
      CREATE TRIGGER delivery_attempts_stats AFTER INSERT ON delivery_attempts
      REFERENCING NEW TABLE AS logged FOR EACH STATEMENT
      EXECUTE FUNCTION delivery_stats_hourly_add()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER delivery_attempts_stats ON delivery_attempts`);
    await db.query(`DROP FUNCTION delivery_stats_hourly_add()`);
    await db.query(`DROP TABLE delivery_stats_hourly`);
    await db.query(`DROP FUNCTION hookpost_duration_bucket(integer)`);
  }
}

/**
 * The hourly counts of the attempts in `attempts`, as rows to insert. Hours are whole UTC
 * hours whatever the session's time zone. Rows go in key order, so that two writers lock
 * the rows they share in the same order.
 */
function rollup(attempts: string): string {
  return `
    INSERT INTO delivery_stats_hourly AS s
      (subscription_id, hour, succeeded, failed, short_circuited, skipped, durations, last_attempt_at)
    SELECT subscription_id, hour, sum(succeeded), sum(failed), sum(short_circuited), sum(skipped),
           coalesce(jsonb_object_agg(bucket, attempts) FILTER (WHERE bucket IS NOT NULL), '{}'::jsonb),
           max(last_attempt_at)
    FROM (SELECT subscription_id,
                 date_bin('1 hour', attempted_at, timestamptz '2000-01-01T00:00:00Z') AS hour,
                 CASE WHEN http_status IS NOT NULL THEN hookpost_duration_bucket(duration_ms) END AS bucket,
                 count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
                 count(*) FILTER (WHERE outcome = 'failed') AS failed,
                 count(*) FILTER (WHERE outcome = 'short_circuited') AS short_circuited,
                 count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
                 count(*) AS attempts,
                 max(attempted_at) AS last_attempt_at
          FROM ${attempts}
          GROUP BY 1, 2, 3) AS by_bucket
    GROUP BY subscription_id, hour
    ORDER BY subscription_id, hour`;
}
