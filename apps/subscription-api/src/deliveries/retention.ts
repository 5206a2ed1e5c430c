import { CONFIG, LOGGER, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';
import type { ApiConfig } from '../config.js';
import { IdempotencyKeys } from '../idempotency/idempotency-keys.js';

const purged = new Counter({
  name: 'hookpost_delivery_log_purged_total',
  help: 'Rows removed after DELIVERY_LOG_RETENTION (delivery attempts, their hourly counts, stored events and manual retries), and the stored events of deleted organisations',
});

const CHUNK = 5_000;

/**
 * Events are kept this much longer than the retention, from when they reached the log: an
 * event's attempts are kept from when they were made, up to a retry chain's length after
 * that (14.6 hours with the default RETRY_SCHEDULE), and a delivery shown in the log
 * should be one that can be retried by hand.
 */
const EVENT_MARGIN_SECONDS = 24 * 3_600;

/**
 * Removes delivery attempts, stored events and manual retries' numbers older than
 * DELIVERY_LOG_RETENTION, the stored events of deleted organisations, and idempotency keys
 * older than a day, on a timer, a chunk at a time so that no long lock holds up the
 * attempts consumer. Runs in every replica; concurrent purges only share the work.
 */
@Injectable()
export class DeliveryLogRetention implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly idempotencyKeys: IdempotencyKeys,
    @Inject(CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // Often enough that nothing outlives the retention by more than half of it (10 min at most).
    const every = Math.min(10 * 60_000, Math.max(1_000, this.config.DELIVERY_LOG_RETENTION / 2));
    this.timer = setInterval(() => {
      this.running = this.purge();
    }, every).unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async purge(): Promise<number> {
    let total = 0;
    try {
      // The attempts, their hourly counts (an hour once all of it is past the retention),
      // the events they delivered (read by replay, retry and messages), and the attempt
      // numbers handed to retries by hand.
      const retention = this.config.DELIVERY_LOG_RETENTION / 1000;
      for (const [table, key, time, seconds] of [
        ['delivery_attempts', 'attempt_id', 'attempted_at', retention],
        ['delivery_stats_hourly', 'subscription_id, hour', 'hour', retention + 3_600],
        // By arrival, not by when it occurred: a late event is kept as long as any.
        ['mail_events', 'event_id', 'stored_at', retention + EVENT_MARGIN_SECONDS],
        ['manual_retries', 'delivery_id', 'requested_at', retention],
      ] as const) {
        total += await this.inChunks(
          `DELETE FROM ${table} WHERE (${key}) IN (
             SELECT ${key} FROM ${table}
             WHERE ${time} < now() - make_interval(secs => $1) LIMIT $2)`,
          [seconds],
        );
      }
      // The stored events of a deleted organisation (ADR 0024, amended): no key can read
      // them any more, and they name people. Its delivery log, ids and outcomes, ages out.
      total += await this.inChunks(
        `DELETE FROM mail_events WHERE event_id IN (
           SELECT e.event_id FROM organizations o
           JOIN mail_events e ON e.organization_id = o.id
           WHERE o.deleted_at IS NOT NULL LIMIT $1)`,
        [],
      );
      purged.inc(total);
      if (total > 0) this.logger.info({ purged: total }, 'delivery log purged');
      // The API's idempotency keys, a day old (ADR 0020): not the log, but the same chore.
      const keys = await this.idempotencyKeys.purge();
      if (keys > 0) this.logger.info({ purged: keys }, 'expired idempotency keys purged');
    } catch (error) {
      this.logger.warn({ err: error }, 'delivery log purge failed; will retry');
    }
    return total;
  }

  /** Runs a DELETE of at most CHUNK rows (its last parameter) until one removes fewer. */
  private async inChunks(sql: string, parameters: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const [, count] = (await this.dataSource.query(sql, [...parameters, CHUNK])) as [
        unknown,
        number,
      ];
      total += count;
      if (count < CHUNK) return total;
    }
  }
}
