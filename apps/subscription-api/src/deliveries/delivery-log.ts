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
  next_retry_at: string | null;
  attempted_at: string;
}

/** The delivery attempts of a subscription, newest first, a page at a time. */
@Injectable()
export class DeliveryLog {
  constructor(private readonly dataSource: DataSource) {}

  async page(
    subscriptionId: string,
    limit: number,
    cursor?: string,
  ): Promise<{ data: AttemptView[]; next_cursor: string | null }> {
    const rows = (await this.dataSource.query(
      `SELECT attempt_id, delivery_id, event_id, event_type, attempt, outcome AS status, http_status, duration_ms, error,
              next_retry_at, attempted_at
       FROM delivery_attempts
       WHERE subscription_id = $1 AND ($2::text IS NULL OR attempt_id < $2)
       ORDER BY attempt_id DESC LIMIT $3`,
      [subscriptionId, cursor ?? null, limit + 1],
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
