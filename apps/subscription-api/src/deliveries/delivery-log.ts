import { deriveId, firstIdAt, type AttemptOutcome, type EventType } from '@hookpost/contracts';
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
    const where = ['subscription_id = $1'];
    const params: unknown[] = [subscriptionId];
    const add = (clause: (param: string) => string, value: unknown) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
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
    if (filter.since) {
      const since = Date.parse(filter.since);
      add((p) => `attempted_at >= ${p}`, new Date(since));
      add((p) => `attempt_id >= ${p}`, firstIdAt('attempt', since - ID_TIME_SLACK_MS));
    }
    if (filter.until) {
      const until = Date.parse(filter.until);
      add((p) => `attempted_at < ${p}`, new Date(until));
      add((p) => `attempt_id < ${p}`, firstIdAt('attempt', until + ID_TIME_SLACK_MS));
    }
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
}
