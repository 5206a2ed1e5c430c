import {
  canonicalEventType,
  deriveId,
  encodeJson,
  ingestedEventSchema,
  newId,
  RETRY_KEPT_PAST_DUE_MS,
  TOPICS,
  type DeliveryJob,
  type IngestedEvent,
} from '@hookpost/contracts';
import {
  expandEventFilters,
  matchable,
  SubscriptionIndex,
  type Subscription,
} from '@hookpost/domain';
import { KafkaProducer } from '@hookpost/platform';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
import { RateLimits } from '../rate-limits/rate-limits.js';
import { ReplayLocks } from './replay-locks.js';
import { WebhooksService } from '../webhooks/webhooks.service.js';

/** Events replayed per call at most; a longer window is replayed in several calls. */
export const MAX_REPLAY = 100_000;
const PAGE = 1_000;

/**
 * Sending again: a test event through the pipeline, one delivery by hand, or every
 * matching event of a time window. Redeliveries keep the delivery's id, so receivers
 * that already have it (same `webhook-id`) can drop it.
 */
@Injectable()
export class RedeliveryService {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly dataSource: DataSource,
    private readonly producer: KafkaProducer,
    private readonly limits: RateLimits,
    private readonly locks: ReplayLocks,
  ) {}

  /**
   * A test event of `type` (default: the first the subscription takes) goes onto the
   * canonical-events topic, marked for this one subscription: the matcher, the deliverer,
   * signing, retries and the delivery log all handle it as any other. Counts against
   * API_SEND_RATE_LIMIT once it is known to go: a mistyped call costs nothing.
   */
  async test(principal: Principal, id: string, typeName?: string) {
    const subscription = await this.active(principal, id);
    const type = typeName
      ? canonicalEventType(typeName)
      : expandEventFilters(subscription.events)[0];
    if (!type) {
      throw ApiError.validation([
        { field: 'type', code: 'unknown_event_type', message: `unknown event type ${typeName}` },
      ]);
    }
    this.limits.send(subscription.organizationId);
    const now = new Date().toISOString();
    const eventId = newId('event').replace(/^[a-z]+_/, 'evt_test_');
    const event: IngestedEvent = ingestedEventSchema.parse({
      id: eventId,
      type,
      organization_id: subscription.organizationId,
      occurred_at: now,
      received_at: now,
      source: { format: 'test' },
      data: { message_id: `<${eventId}@test.hookpost>`, test: true },
      target_subscription_id: subscription.id,
      target_subscription_version: subscription.version,
    });
    await this.producer.send([
      { topic: TOPICS.canonicalEvents, key: event.id, value: encodeJson(event) },
    ]);
    return { event_id: event.id, type };
  }

  /**
   * Delivers one delivery again, as its next attempt. Not while a retry of it is pending,
   * automatic (as Convoy) or by hand and not yet in the log: a failed manual attempt would
   * start a second chain of retries beside it, and the two would share attempt numbers
   * (ADR 0008).
   */
  async retry(principal: Principal, id: string, deliveryId: string) {
    const subscription = await this.active(principal, id);
    const [last] = (await this.dataSource.query(
      `SELECT a.attempt, a.next_retry_at, e.event FROM delivery_attempts a
       LEFT JOIN mail_events e ON e.event_id = a.event_id
       WHERE a.delivery_id = $1 AND a.subscription_id = $2
       ORDER BY a.attempt DESC LIMIT 1`,
      [deliveryId, subscription.id],
    )) as Array<{ attempt: number; next_retry_at: Date | null; event: unknown | null }>;
    if (!last) throw ApiError.notFound('delivery');
    if (last.event === null) {
      // Its attempts outlived its event: both are kept for DELIVERY_LOG_RETENTION, the
      // attempts from when they were made, the event from when it occurred; or the event
      // was erased on request (ADR 0026).
      throw new ApiError(
        410,
        'event_expired',
        'the event of this delivery is no longer kept (past DELIVERY_LOG_RETENTION, or erased): it cannot be sent again',
      );
    }
    if (retryPending(last.next_retry_at, new Date())) {
      throw new ApiError(
        409,
        'retry_pending',
        `attempt ${last.attempt + 1} of this delivery is scheduled for ${last.next_retry_at!.toISOString()}; retry it by hand once that attempt is in the log`,
      );
    }
    // The attempt after the last one logged, unless a retry by hand handed out an attempt
    // that is not logged yet (and is not so old that its job may be gone): the upsert's
    // row lock makes concurrent retries take turns, and the later one finds the earlier.
    // The number is kept only if the job is sent: else it would hold off every retry.
    const job = await this.dataSource.transaction(async (manager) => {
      const [numbered] = (await manager.query(
        `INSERT INTO manual_retries (delivery_id, attempt, requested_at) VALUES ($1, $2, now())
         ON CONFLICT (delivery_id) DO UPDATE
           SET attempt = GREATEST(manual_retries.attempt + 1, EXCLUDED.attempt), requested_at = now()
           WHERE manual_retries.attempt < EXCLUDED.attempt
             OR manual_retries.requested_at < now() - make_interval(secs => $3)
         RETURNING attempt`,
        [deliveryId, last.attempt + 1, RETRY_KEPT_PAST_DUE_MS / 1000],
      )) as Array<{ attempt: number }>;
      if (!numbered) {
        throw new ApiError(
          409,
          'retry_pending',
          'a retry by hand of this delivery is on its way and not in the log yet; retry it again once its attempt is',
        );
      }
      const next = this.job(subscription, ingestedEventSchema.parse(last.event), numbered.attempt);
      await this.producer.send([
        { topic: TOPICS.deliveryJobs, key: subscription.id, value: encodeJson(next) },
      ]);
      return next;
    });
    return { delivery_id: deliveryId, attempt: job.attempt };
  }

  /**
   * Every event in [since, until) the subscription matches now, delivered again, in the
   * order they occurred. A window of more than `max` events stops after the instant of the
   * `max`th (its other events at that instant go too), and the 413 names the rest: the
   * window from the next millisecond on, as event times are whole milliseconds. One at a
   * time per subscription across replicas (ReplayLocks), each counted against
   * API_SEND_RATE_LIMIT.
   */
  async replay(
    principal: Principal,
    id: string,
    window: ReplayWindow,
    max = MAX_REPLAY,
  ): Promise<{ queued: number; since: string; until: string; failed_only: boolean }> {
    const subscription = await this.active(principal, id);
    // Asked after the tenancy check, so that no one learns of another's replay; counted
    // as a send once it goes ahead (one refused as in progress costs none).
    return this.locks.hold(subscription.id, (db) => {
      this.limits.send(subscription.organizationId);
      return this.queueWindow(db, subscription, window, max);
    });
  }

  /** Runs its queries on `db`, the connection that holds the webhook's replay lock. */
  private async queueWindow(
    db: EntityManager,
    subscription: Subscription,
    { since, until, failedOnly }: ReplayWindow,
    max: number,
  ) {
    const index = new SubscriptionIndex();
    index.update({ before: undefined, after: matchable(subscription) });
    const types = expandEventFilters(subscription.events);
    let queued = 0;
    // Where the last page ended, in (occurred_at, seq) order (seq breaks ties, and starts
    // at 1): at first, before the window's first event.
    let after = { occurredAt: since, seq: '0' };
    const page = (before: Date, limit: number) =>
      db.query(
        `SELECT seq, occurred_at, event FROM mail_events
         WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3
           AND type = ANY($4) AND (occurred_at, seq) > ($5, $6)
           AND NOT (event ? 'target_subscription_id')
         ORDER BY occurred_at, seq LIMIT $7`,
        [subscription.organizationId, since, before, types, after.occurredAt, after.seq, limit],
      ) as Promise<Array<{ seq: string; occurred_at: Date; event: unknown }>>;
    // The end of what this call replays: `until`, or once `max` are queued, the end of
    // the instant the last one occurred at.
    let end = until;
    for (;;) {
      const rows = await page(end, Math.min(PAGE, max));
      if (rows.length === 0) break;
      const jobs = await this.notPending(
        db,
        subscription,
        rows
          .map((row) => ingestedEventSchema.parse(row.event))
          .filter((event) => index.match(event).length > 0)
          .map((event) => this.job(subscription, event, 1)),
        failedOnly,
      );
      await this.producer.send(
        jobs.map((job) => ({
          topic: TOPICS.deliveryJobs,
          key: subscription.id,
          value: encodeJson(job),
        })),
      );
      queued += jobs.length;
      const last = rows[rows.length - 1]!;
      after = { occurredAt: last.occurred_at, seq: last.seq };
      if (queued >= max && end === until)
        end = new Date(Math.min(last.occurred_at.getTime() + 1, until.getTime()));
    }
    if (end < until && (await page(until, 1)).length > 0) {
      const rest = end.toISOString();
      throw new ApiError(
        413,
        'replay_too_large',
        `more than ${max} events in the window; ${queued} were queued, every one that occurred before ${rest}: replay the rest with since ${rest}`,
      );
    }
    return {
      queued,
      since: since.toISOString(),
      until: until.toISOString(),
      failed_only: failedOnly,
    };
  }

  /**
   * `jobs` as their deliveries' next attempts, without those whose automatic retry is
   * pending: that retry sends the event anyway, and a replayed attempt that failed would
   * start a second chain of retries beside it (as a manual retry would; ADR 0008).
   * `failedOnly` keeps only the deliveries attempted and never succeeded: those that
   * failed, or were put off by an open breaker or skipped while the webhook was paused,
   * not events it never had a delivery of (from before it existed or matched them).
   */
  private async notPending(
    db: EntityManager,
    subscription: Subscription,
    jobs: DeliveryJob[],
    failedOnly: boolean,
  ) {
    if (jobs.length === 0) return jobs;
    const rows = (await db.query(
      `SELECT delivery_id, max(attempt) AS attempt,
              (array_agg(next_retry_at ORDER BY attempt DESC))[1] AS next_retry_at,
              bool_or(outcome = 'succeeded') AS succeeded
       FROM delivery_attempts WHERE delivery_id = ANY($1) AND subscription_id = $2
       GROUP BY delivery_id`,
      [jobs.map((job) => job.deliveryId), subscription.id],
    )) as Array<{
      delivery_id: string;
      attempt: number;
      next_retry_at: Date | null;
      succeeded: boolean;
    }>;
    const last = new Map(rows.map((row) => [row.delivery_id, row]));
    const now = new Date();
    return jobs
      .filter((job) => {
        const delivery = last.get(job.deliveryId);
        if (failedOnly && (!delivery || delivery.succeeded)) return false;
        return !retryPending(delivery?.next_retry_at ?? null, now);
      })
      .map((job) => ({ ...job, attempt: (last.get(job.deliveryId)?.attempt ?? 0) + 1 }));
  }

  private job(subscription: Subscription, event: IngestedEvent, attempt: number): DeliveryJob {
    return {
      deliveryId: deriveId('delivery', event.id, subscription.id),
      subscriptionId: subscription.id,
      organizationId: subscription.organizationId,
      subscriptionVersion: subscription.version,
      attempt,
      event,
    };
  }

  /** Sending to a paused, failed or disabled subscription would be skipped: say so instead. */
  private async active(principal: Principal, id: string): Promise<Subscription> {
    const subscription = await this.webhooks.state(principal, id);
    if (subscription.status !== 'active') {
      throw new ApiError(
        409,
        'webhook_not_active',
        `the webhook is ${subscription.status}; resume it first`,
      );
    }
    return subscription;
  }
}

/** What a replay sends again: the window's events, or only its deliveries that never succeeded. */
export interface ReplayWindow {
  since: Date;
  until: Date;
  failedOnly: boolean;
}

/** A replay request's window (`replaySchema`): without `until`, up to now. */
export function replayWindow(
  body: { since: string; until?: string; failed_only?: boolean },
  now = new Date(),
): ReplayWindow {
  return {
    since: new Date(body.since),
    until: body.until ? new Date(body.until) : now,
    failedOnly: body.failed_only ?? false,
  };
}

/**
 * Whether the retry the last attempt announced is still to come. Past its due time it is
 * only late (deliverers lagging, or putting it off), until its topic may have deleted it.
 */
export function retryPending(nextRetryAt: Date | null, now: Date): boolean {
  return nextRetryAt !== null && now.getTime() < nextRetryAt.getTime() + RETRY_KEPT_PAST_DUE_MS;
}
