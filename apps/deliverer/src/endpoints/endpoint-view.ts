import {
  subscriptionStateSchema,
  TOPICS,
  VIEW_LEASE_MS,
  type SubscriptionState,
} from '@hookpost/contracts';
import { SubscriptionCatalog, type Subscription } from '@hookpost/domain';
import { KAFKA, LOGGER, Projection, Readiness, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The deliverer's own view of every subscription (URL, format, headers, encrypted
 * secrets, status), loaded from the compacted subscription-state topic.
 *
 * It acknowledges what it applied and confirms every second that it is current: a DELETE
 * waits for that (ADR 0017), and nothing is sent while the view is not current.
 */
@Injectable()
export class EndpointView implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly catalog = new SubscriptionCatalog();
  private readonly projection: Projection<SubscriptionState>;

  constructor(@Inject(KAFKA) kafka: Kafka, @Inject(LOGGER) logger: Logger, readiness: Readiness) {
    this.projection = new Projection(
      kafka,
      {
        name: 'subscription view',
        service: 'deliverer',
        topics: [TOPICS.subscriptionState],
        schema: subscriptionStateSchema,
        acknowledge: true,
      },
      logger,
      readiness,
    );
    // Loaded, but unable to confirm it is current: it sends nothing (ADR 0017).
    readiness.register('subscription view current', () => this.isCurrent);
  }

  /** Settles once the view holds every subscription the topic had at start. */
  get loaded(): Promise<void> {
    return this.projection.loaded;
  }

  onApplicationBootstrap(): void {
    this.projection.start((state, key) => key !== null && this.catalog.put(key, state));
  }

  /**
   * After the job consumers' stop (beforeApplicationShutdown): the view keeps applying and
   * acknowledging changes while their last jobs finish.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.projection.stop();
  }

  /**
   * Whether the view confirmed, less than VIEW_LEASE_MS ago, that it held every change in
   * Kafka. A DELETE answers once every deliverer acknowledged it or that long has passed;
   * a view that has not confirmed since must not be acted on.
   */
  get isCurrent(): boolean {
    const asOf = this.projection.currentAsOf;
    return asOf !== undefined && performance.now() - asOf < VIEW_LEASE_MS;
  }

  /** The subscription at `version` or later, if the view holds it now. */
  current(id: string, version: number): Subscription | undefined {
    const subscription = this.catalog.get(id);
    return subscription && subscription.version >= version ? subscription : undefined;
  }

  /**
   * The subscription at `version` or later. A job can overtake the event that created
   * or changed its subscription (they travel on different topics); wait for it briefly.
   */
  async atLeast(id: string, version: number, timeoutMs = 5_000): Promise<Subscription | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const subscription = this.catalog.get(id);
      if ((subscription && subscription.version >= version) || Date.now() >= deadline)
        return subscription;
      await sleep(20);
    }
  }
}
