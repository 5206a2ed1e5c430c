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
import { DataSource } from 'typeorm';
import type { Principal } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
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
  ) {}

  /**
   * A test event of `type` (default: the first the subscription takes) goes onto the
   * canonical-events topic, marked for this one subscription: the matcher, the deliverer,
   * signing, retries and the delivery log all handle it as any other.
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
    });
    await this.producer.send([
      { topic: TOPICS.canonicalEvents, key: event.id, value: encodeJson(event) },
    ]);
    return { event_id: event.id, type };
  }

  /**
   * Delivers one delivery again, as its next attempt. Not while an automatic retry of it
   * is pending (as Convoy): a failed manual attempt would start a second chain of retries
   * beside it, and the two would share attempt numbers (ADR 0008).
   */
  async retry(principal: Principal, id: string, deliveryId: string) {
    const subscription = await this.active(principal, id);
    const [last] = (await this.dataSource.query(
      `SELECT a.attempt, a.next_retry_at, e.event FROM delivery_attempts a
       JOIN mail_events e ON e.event_id = a.event_id
       WHERE a.delivery_id = $1 AND a.subscription_id = $2
       ORDER BY a.attempt DESC LIMIT 1`,
      [deliveryId, subscription.id],
    )) as Array<{ attempt: number; next_retry_at: Date | null; event: unknown }>;
    if (!last) throw ApiError.notFound('delivery');
    if (retryPending(last.next_retry_at, new Date())) {
      throw new ApiError(
        409,
        'retry_pending',
        `attempt ${last.attempt + 1} of this delivery is scheduled for ${last.next_retry_at!.toISOString()}; retry it by hand once that attempt is in the log`,
      );
    }
    // Numbered after both the last attempt logged and the last retry handed out (which may
    // not be logged yet); the upsert makes concurrent retries take turns.
    const [numbered] = (await this.dataSource.query(
      `INSERT INTO manual_retries (delivery_id, attempt, requested_at) VALUES ($1, $2, now())
       ON CONFLICT (delivery_id) DO UPDATE
         SET attempt = GREATEST(manual_retries.attempt + 1, EXCLUDED.attempt), requested_at = now()
       RETURNING attempt`,
      [deliveryId, last.attempt + 1],
    )) as Array<{ attempt: number }>;
    const job = this.job(subscription, ingestedEventSchema.parse(last.event), numbered!.attempt);
    await this.producer.send([
      { topic: TOPICS.deliveryJobs, key: subscription.id, value: encodeJson(job) },
    ]);
    return { delivery_id: deliveryId, attempt: job.attempt };
  }

  /** Every event in [since, until) the subscription matches now, delivered again. */
  async replay(principal: Principal, id: string, since: Date, until: Date) {
    const subscription = await this.active(principal, id);
    const index = new SubscriptionIndex();
    index.update({ before: undefined, after: matchable(subscription) });
    const types = expandEventFilters(subscription.events);
    let queued = 0;
    let after = 0;
    for (;;) {
      const rows = (await this.dataSource.query(
        `SELECT seq, event FROM mail_events
         WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3
           AND type = ANY($4) AND seq > $5 AND NOT (event ? 'target_subscription_id')
         ORDER BY seq LIMIT $6`,
        [subscription.organizationId, since, until, types, after, PAGE],
      )) as Array<{ seq: string; event: unknown }>;
      if (rows.length === 0) break;
      const jobs = rows
        .map((row) => ingestedEventSchema.parse(row.event))
        .filter((event) => index.match(event).length > 0)
        .map((event) => this.job(subscription, event, 1));
      await this.producer.send(
        jobs.map((job) => ({
          topic: TOPICS.deliveryJobs,
          key: subscription.id,
          value: encodeJson(job),
        })),
      );
      queued += jobs.length;
      after = Number(rows[rows.length - 1]!.seq);
      if (queued >= MAX_REPLAY) {
        throw new ApiError(
          413,
          'replay_too_large',
          `more than ${MAX_REPLAY} events in the window; ${queued} were queued, up to ${
            (rows[rows.length - 1]!.event as { occurred_at: string }).occurred_at
          }: replay the rest with a later since`,
        );
      }
    }
    return { queued, since: since.toISOString(), until: until.toISOString() };
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

/**
 * Whether the retry the last attempt announced is still to come. Past its due time it is
 * only late (deliverers lagging, or putting it off), until its topic may have deleted it.
 */
export function retryPending(nextRetryAt: Date | null, now: Date): boolean {
  return nextRetryAt !== null && now.getTime() < nextRetryAt.getTime() + RETRY_KEPT_PAST_DUE_MS;
}
