import {
  ATTEMPT_OUTCOMES,
  deriveId,
  firstIdAt,
  type AttemptEvent,
  type AttemptOutcome,
  type EventType,
} from '@hookpost/contracts';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export interface AttemptView {
  attempt_id: string;
  delivery_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status: string;
  http_status: number | null;
  duration_ms: number;
  error: string | null;
  /** The start of what the endpoint answered, for an attempt that failed with a status. */
  response_body: string | null;
  next_retry_at: string | null;
  attempted_at: string;
}

/** What narrows a page of the log (all optional; `logsQuery` checks them). */
export interface AttemptFilter {
  cursor?: string;
  status?: readonly AttemptOutcome[];
  event_type?: readonly EventType[];
  delivery_id?: string;
  event_id?: string;
  since?: string;
  until?: string;
}

/** How a subscription's deliveries went over a window of attempt times. */
export interface DeliveryStats {
  since: string;
  until: string;
  /** Attempts by outcome. */
  attempts: Record<AttemptOutcome, number>;
  /** Of the attempts sent (succeeded or failed), the share that succeeded; null if none. */
  success_rate: number | null;
  /** How long the endpoint took to answer, over the attempts it answered; null if none. */
  duration_ms: { p50: number; p95: number; p99: number } | null;
  last_attempt_at: string | null;
  /** Failed attempts in a row as it stands now, whatever the window (auto-pause counts it). */
  failure_streak: number;
}

/**
 * How far an attempt's id may be from its `attempted_at`: both are taken by the deliverer
 * as it logs the attempt, but the bound on ids only narrows the index scan, and the
 * times themselves decide.
 */
const ID_TIME_SLACK_MS = 60_000;

/** The delivery attempts of a subscription, newest first, a page at a time. */
@Injectable()
export class DeliveryLog {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * A page of attempts, newest first. Every filter is served by an index on the
   * subscription's attempts in id order (ids are time-ordered, so a time window is also a
   * range of ids): the whole log, one over those that did not succeed (what a customer
   * looking into failures asks for, and a small share of rows), or the one by delivery (an
   * event's delivery id is derived from the event and the subscription, as the matcher
   * derives it). Event types are filtered along the way.
   */
  async page(
    subscriptionId: string,
    limit: number,
    filter: AttemptFilter = {},
  ): Promise<{ data: AttemptView[]; next_cursor: string | null }> {
    const { where, params, add } = conditions(subscriptionId);
    if (filter.cursor) add((p) => `attempt_id < ${p}`, filter.cursor);
    if (filter.status) {
      add((p) => `outcome = ANY(${p}::text[])`, filter.status);
      // Spelled as the partial index's predicate, so that the planner can use it.
      if (!filter.status.includes('succeeded')) where.push(`outcome <> 'succeeded'`);
    }
    if (filter.event_type) add((p) => `event_type = ANY(${p}::text[])`, filter.event_type);
    if (filter.delivery_id) add((p) => `delivery_id = ${p}`, filter.delivery_id);
    if (filter.event_id) {
      add((p) => `event_id = ${p}`, filter.event_id);
      add((p) => `delivery_id = ${p}`, deriveId('delivery', filter.event_id, subscriptionId));
    }
    window(add, filter.since, filter.until);
    params.push(limit + 1);
    const rows = (await this.dataSource.query(
      `SELECT attempt_id, delivery_id, event_id, event_type, attempt, outcome AS status, http_status, duration_ms, error,
              response_body, next_retry_at, attempted_at
       FROM delivery_attempts
       WHERE ${where.join(' AND ')}
       ORDER BY attempt_id DESC LIMIT $${params.length}`,
      params,
    )) as Array<
      Omit<AttemptView, 'next_retry_at' | 'attempted_at'> & {
        next_retry_at: Date | null;
        attempted_at: Date;
      }
    >;
    const data = rows.slice(0, limit).map((row) => ({
      ...row,
      next_retry_at: row.next_retry_at?.toISOString() ?? null,
      attempted_at: row.attempted_at.toISOString(),
    }));
    return { data, next_cursor: rows.length > limit ? data[data.length - 1]!.attempt_id : null };
  }

  /**
   * The attempts of a window counted by outcome, with the endpoint's answer times. Whole
   * hours are read from the hourly counts the log keeps (migration 0012), the minutes
   * either side from the log itself: a window costs a few rows per hour and at most two
   * hours of attempts, however busy the webhook. All in one snapshot, so that an attempt
   * logged meanwhile is counted in full or not at all.
   */
  async stats(subscriptionId: string, since: string, until: string): Promise<DeliveryStats> {
    const start = Date.parse(since);
    const end = Date.parse(until);
    const firstHour = Math.ceil(start / HOUR_MS) * HOUR_MS;
    const lastHour = Math.floor(end / HOUR_MS) * HOUR_MS;
    const hours = firstHour < lastHour;
    const { groups, failureStreak } = await this.dataSource.transaction(
      'REPEATABLE READ',
      async (db) => {
        const groups: TallyGroup[] = [];
        if (!hours) groups.push(...(await loggedTally(db, subscriptionId, start, end)));
        else {
          if (start < firstHour)
            groups.push(...(await loggedTally(db, subscriptionId, start, firstHour)));
          groups.push(...(await hourlyTally(db, subscriptionId, firstHour, lastHour)));
          if (lastHour < end)
            groups.push(...(await loggedTally(db, subscriptionId, lastHour, end)));
        }
        const [health] = (await db.query(
          'SELECT consecutive_failures FROM subscription_health WHERE subscription_id = $1',
          [subscriptionId],
        )) as Array<{ consecutive_failures: number }>;
        return { groups, failureStreak: health?.consecutive_failures ?? 0 };
      },
    );
    const attempts = Object.fromEntries(ATTEMPT_OUTCOMES.map((o) => [o, 0])) as Record<
      AttemptOutcome,
      number
    >;
    const durations = new Map<number, number>();
    let last: Date | null = null;
    for (const group of groups) {
      for (const outcome of ATTEMPT_OUTCOMES) attempts[outcome] += Number(group[outcome]);
      if (group.bucket !== null) {
        const bucket = Number(group.bucket);
        durations.set(bucket, (durations.get(bucket) ?? 0) + Number(group.in_bucket));
      }
      if (group.last_attempt_at && (!last || group.last_attempt_at > last))
        last = group.last_attempt_at;
    }
    const sent = attempts.succeeded + attempts.failed;
    const [p50, p95, p99] = countedPercentiles(durations, [0.5, 0.95, 0.99]) ?? [];
    return {
      since,
      until,
      attempts,
      success_rate: sent === 0 ? null : Math.round((attempts.succeeded / sent) * 10_000) / 10_000,
      duration_ms: p50 === undefined ? null : { p50, p95: p95!, p99: p99! },
      last_attempt_at: last?.toISOString() ?? null,
      failure_streak: failureStreak,
    };
  }
}

/**
 * Logs attempts, in one statement, and answers the ids of those the log did not have (a
 * batch read again after a crash finds its attempts logged already). The hourly counts
 * follow by the log's trigger (migration 0012).
 */
export async function appendAttempts(
  db: EntityManager,
  attempts: readonly AttemptEvent[],
): Promise<Set<string>> {
  const inserted = (await db.query(
    `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id, event_id, event_type,
       attempt, outcome, http_status, duration_ms, error, next_retry_at, attempted_at, response_body)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS a(
       "attemptId" text, "deliveryId" text, "subscriptionId" text, "organizationId" text, "eventId" text,
       "eventType" text, attempt int, outcome text, "httpStatus" int, "durationMs" int, error text,
       "nextRetryAt" timestamptz, "attemptedAt" timestamptz, "responseBody" text)
     ON CONFLICT (attempt_id) DO NOTHING
     RETURNING attempt_id`,
    [JSON.stringify(attempts.map((a) => ({ ...a, durationMs: Math.round(a.durationMs) })))],
  )) as Array<{ attempt_id: string }>;
  return new Set(inserted.map((row) => row.attempt_id));
}

const HOUR_MS = 3_600_000;

/**
 * Attempts of a stretch of a window, in groups: by outcome, and those the endpoint
 * answered by duration bucket (`bucket`, the bucket's highest value in ms, with
 * `in_bucket` attempts; null for a group of attempts not answered or not by bucket). Counts come back as strings: a month
 * of a busy webhook's attempts can pass 2^31.
 */
type TallyGroup = Record<AttemptOutcome, string> & {
  bucket: string | null;
  in_bucket: string;
  last_attempt_at: Date | null;
};

/** The outcomes are the contract's own names, not input. */
const OUTCOME_COUNTS = ATTEMPT_OUTCOMES.map(
  (outcome) => `count(*) FILTER (WHERE outcome = '${outcome}') AS ${outcome}`,
).join(', ');
const OUTCOME_SUMS = ATTEMPT_OUTCOMES.map((outcome) => `sum(${outcome}) AS ${outcome}`).join(', ');
const NO_OUTCOMES = ATTEMPT_OUTCOMES.map((outcome) => `0 AS ${outcome}`).join(', ');

/**
 * A stretch of a window shorter than its whole hours, from the log's own rows: one pass,
 * grouped by answer time, then the few hundred groups at most by duration bucket (which
 * costs far more per attempt than the grouping).
 */
async function loggedTally(
  db: EntityManager,
  subscriptionId: string,
  start: number,
  end: number,
): Promise<TallyGroup[]> {
  const { where, params, add } = conditions(subscriptionId);
  window(add, new Date(start).toISOString(), new Date(end).toISOString());
  return (await db.query(
    `SELECT CASE WHEN answered THEN hookpost_duration_bucket(duration_ms) END AS bucket,
            sum(n) AS in_bucket, ${OUTCOME_SUMS}, max(last_attempt_at) AS last_attempt_at
     FROM (SELECT http_status IS NOT NULL AS answered, duration_ms, count(*) AS n, ${OUTCOME_COUNTS},
                  max(attempted_at) AS last_attempt_at
           FROM delivery_attempts
           WHERE ${where.join(' AND ')}
           GROUP BY 1, 2) AS by_time
     GROUP BY 1`,
    params,
  )) as TallyGroup[];
}

/** The whole hours of a window, from the hourly counts: their sums, then their buckets. */
async function hourlyTally(
  db: EntityManager,
  subscriptionId: string,
  firstHour: number,
  lastHour: number,
): Promise<TallyGroup[]> {
  return (await db.query(
    `WITH h AS MATERIALIZED (
       SELECT * FROM delivery_stats_hourly
       WHERE subscription_id = $1 AND hour >= $2 AND hour < $3)
     SELECT NULL AS bucket, 0 AS in_bucket, ${OUTCOME_SUMS}, max(last_attempt_at) AS last_attempt_at
     FROM h
     UNION ALL
     SELECT key, sum(value::bigint), ${NO_OUTCOMES}, NULL
     FROM h, jsonb_each_text(h.durations) GROUP BY key`,
    [subscriptionId, new Date(firstHour), new Date(lastHour)],
  )) as TallyGroup[];
}

/**
 * Percentiles of counted values, as Postgres's `percentile_disc` gives them over the
 * values one by one: for each fraction, the least value that, with all below it, makes up
 * at least that share of the count. Null when nothing was counted.
 */
export function countedPercentiles(
  counts: ReadonlyMap<number, number>,
  fractions: readonly number[],
): number[] | null {
  const values = [...counts.keys()].sort((a, b) => a - b);
  const total = values.reduce((sum, value) => sum + counts.get(value)!, 0);
  if (total === 0) return null;
  return fractions.map((fraction) => {
    const rank = Math.max(1, Math.ceil(fraction * total));
    let seen = 0;
    for (const value of values) {
      seen += counts.get(value)!;
      if (seen >= rank) return value;
    }
    return values[values.length - 1]!;
  });
}

type AddCondition = (clause: (param: string) => string, value: unknown) => void;

/** A subscription's attempts, narrowed by `add`ing a clause with its value as a parameter. */
function conditions(subscriptionId: string): {
  where: string[];
  params: unknown[];
  add: AddCondition;
} {
  const where = ['subscription_id = $1'];
  const params: unknown[] = [subscriptionId];
  const add: AddCondition = (clause, value) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  return { where, params, add };
}

/**
 * Narrows a query to attempts made since (inclusive) and until (exclusive): by their
 * times, and by the range of ids those times give, so that the index on the subscription's
 * attempts in id order serves it.
 */
function window(add: AddCondition, since: string | undefined, until: string | undefined): void {
  if (since) {
    const at = Date.parse(since);
    add((p) => `attempted_at >= ${p}`, new Date(at));
    add((p) => `attempt_id >= ${p}`, firstIdAt('attempt', at - ID_TIME_SLACK_MS));
  }
  if (until) {
    const at = Date.parse(until);
    add((p) => `attempted_at < ${p}`, new Date(at));
    add((p) => `attempt_id < ${p}`, firstIdAt('attempt', at + ID_TIME_SLACK_MS));
  }
}
