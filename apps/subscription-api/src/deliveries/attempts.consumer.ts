import {
  attemptEventSchema,
  CONSUMER_GROUPS,
  TOPICS,
  type AttemptEvent,
} from '@hookpost/contracts';
import type { SubscriptionCommand } from '@hookpost/domain';
import {
  type BatchHandler,
  Coalescer,
  CONFIG,
  decodeOrPassOver,
  GATHERED_FETCH,
  KAFKA,
  LOGGER,
  ManagedConsumer,
  Readiness,
  type IncomingMessage,
  type Logger,
} from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { DataSource } from 'typeorm';
import type { ApiConfig } from '../config.js';
import { SubscriptionStore } from '../event-store/subscription-store.js';
import { appendAttempts } from './delivery-log.js';
import { failureStreaks } from './failure-streaks.js';

/**
 * The deliverer's attempt events -> the delivery log in Postgres, in batches, and the
 * consequences for subscriptions: AUTO_PAUSE_AFTER_FAILURES consecutive failures mark a
 * subscription `failed`, a 410 marks it `disabled`; both are events like any other change.
 * Re-reading a batch after a crash is harmless: an attempt already logged is not counted again.
 */
@Injectable()
export class AttemptsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumer: ManagedConsumer<BatchHandler>;
  /**
   * Partitions' batches are handled at once: their attempts go in shared transactions. A
   * subscription's attempts are all on one partition, so they stay in order.
   */
  private readonly records = new Coalescer<AttemptEvent>((attempts) => this.record(attempts));

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    private readonly dataSource: DataSource,
    private readonly store: SubscriptionStore,
    @Inject(CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: Readiness,
  ) {
    this.consumer = ManagedConsumer.ofBatches(
      kafka,
      'attempts consumer',
      {
        groupId: CONSUMER_GROUPS.subscriptionApiAttempts,
        topics: [TOPICS.deliveryAttempts],
        gather: GATHERED_FETCH,
      },
      logger,
      readiness,
    );
  }

  onApplicationBootstrap(): void {
    this.consumer.start((messages) => this.handle(messages));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  private async handle(messages: IncomingMessage[]): Promise<void> {
    const attempts: AttemptEvent[] = [];
    for (const message of messages) {
      const attempt = decodeOrPassOver(attemptEventSchema, message, this.logger, 'attempt event');
      if (attempt) attempts.push(attempt);
    }
    await this.records.run(attempts);
  }

  /** Logs attempts (of one or more batches) and applies what follows for subscriptions. */
  private async record(attempts: AttemptEvent[]): Promise<void> {
    const consequences = await this.dataSource.transaction(async (manager) => {
      const fresh = await appendAttempts(manager, attempts);
      const streaks = failureStreaks(attempts.filter((a) => fresh.has(a.attemptId)));
      const failures = new Map<string, number>();
      for (const reset of [true, false]) {
        const changes = [...streaks].filter(([, streak]) => streak.reset === reset);
        if (changes.length === 0) continue;
        // One statement for the batch's subscriptions, not one each; a healthy endpoint's
        // streak stays at zero and is not written at all.
        const rows = (await manager.query(
          `INSERT INTO subscription_health AS h (subscription_id, consecutive_failures, last_attempt_at)
           SELECT id, failures, now() FROM unnest($1::text[], $2::int[]) AS t(id, failures)
           ON CONFLICT (subscription_id) DO UPDATE SET
             consecutive_failures = ${reset ? '' : 'h.consecutive_failures + '}EXCLUDED.consecutive_failures,
             last_attempt_at = now()
           WHERE h.consecutive_failures <> 0 OR EXCLUDED.consecutive_failures <> 0
           RETURNING subscription_id, consecutive_failures`,
          [changes.map(([id]) => id), changes.map(([, streak]) => streak.failures)],
        )) as Array<{ subscription_id: string; consecutive_failures: number }>;
        for (const row of rows) failures.set(row.subscription_id, row.consecutive_failures);
      }
      // What follows is judged on every attempt of the batch, not only on those logged just
      // now: a batch is read again when the commands below failed (a conflict, the database
      // away a moment), and they must still be given. The streak of a subscription whose
      // failures were logged before is read as it stands.
      const judged = fresh.size === attempts.length ? streaks : failureStreaks(attempts);
      const unread = [...judged]
        .filter(([id, streak]) => !streak.gone && streak.failures > 0 && !failures.has(id))
        .map(([id]) => id);
      if (unread.length > 0) {
        const rows = (await manager.query(
          'SELECT subscription_id, consecutive_failures FROM subscription_health WHERE subscription_id = ANY($1::text[])',
          [unread],
        )) as Array<{ subscription_id: string; consecutive_failures: number }>;
        for (const row of rows) failures.set(row.subscription_id, row.consecutive_failures);
      }
      const afterFailures = this.config.AUTO_PAUSE_AFTER_FAILURES;
      const out: Array<{
        subscriptionId: string;
        organizationId: string;
        command: SubscriptionCommand;
      }> = [];
      for (const [subscriptionId, streak] of judged) {
        const gone = streak.gone;
        if (!gone && (failures.get(subscriptionId) ?? 0) < afterFailures) continue;
        const organizationId = attempts.find(
          (a) => a.subscriptionId === subscriptionId,
        )!.organizationId;
        // Each carries the condition, not the verdict: it runs after this commits, and is
        // judged again on the subscription as it stands then (a resume resets the streak,
        // and a change since the 410 makes it stale).
        const command: SubscriptionCommand = gone
          ? { type: 'disable', answeredAt: streak.goneAt! }
          : { type: 'mark_failed', afterFailures };
        out.push({ subscriptionId, organizationId, command });
      }
      return out;
    });
    for (const { subscriptionId, organizationId, command } of consequences) {
      await this.store
        .execute(subscriptionId, command, { organizationId, actor: { kind: 'hookpost' } })
        .then(({ state, changed }) => {
          // Already failed, paused by its owner, or resumed (or a success) since the
          // failures were counted: nothing changed, nothing to say.
          if (changed)
            this.logger.info(
              { subscriptionId, command: command.type, status: state.status },
              'subscription status changed by its deliveries',
            );
        })
        .catch((error: unknown) => {
          // Deleted meanwhile: nothing to pause.
          if ((error as { code?: string }).code !== 'not_found') throw error;
        });
    }
  }
}
