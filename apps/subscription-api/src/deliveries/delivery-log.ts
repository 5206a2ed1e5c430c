import {
  ATTEMPT_OUTCOMES,
  deriveId,
  firstIdAt,
  type AttemptOutcome,
  type EventType,
} from '@hookpost/contracts';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

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
   * The attempts of a window counted by outcome, with the endpoint's answer times: one
   * pass over the window's range of the subscription's index.
   */
  async stats(subscriptionId: string, since: string, until: string): Promise<DeliveryStats> {
    const { where, params, add } = conditions(subscriptionId);
    window(add, since, until);
    // The outcomes are the contract's own names, not input.
    const counts = ATTEMPT_OUTCOMES.map(
      (outcome) => `count(*) FILTER (WHERE outcome = '${outcome}')::int AS ${outcome}`,
    );
    const [row] = (await this.dataSource.query(
      `SELECT ${counts.join(', ')},
              percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)
                FILTER (WHERE http_status IS NOT NULL) AS durations,
              max(attempted_at) AS last_attempt_at,
              (SELECT consecutive_failures FROM subscription_health WHERE subscription_id = $1)
                AS failure_streak
       FROM delivery_attempts
       WHERE ${where.join(' AND ')}`,
      params,
    )) as Array<
      Record<AttemptOutcome, number> & {
        durations: number[] | null;
        last_attempt_at: Date | null;
        failure_streak: number | null;
      }
    >;
    const { durations, last_attempt_at, failure_streak, ...attempts } = row!;
    const sent = attempts.succeeded + attempts.failed;
    return {
      since,
      until,
      attempts,
      success_rate: sent === 0 ? null : Math.round((attempts.succeeded / sent) * 10_000) / 10_000,
      duration_ms: durations
        ? { p50: durations[0]!, p95: durations[1]!, p99: durations[2]! }
        : null,
      last_attempt_at: last_attempt_at?.toISOString() ?? null,
      failure_streak: failure_streak ?? 0,
    };
  }
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
