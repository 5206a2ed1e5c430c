import { subscriptionStateSchema, TOPICS, type SubscriptionState } from '@hookpost/contracts';
import { SubscriptionCatalog, type Subscription } from '@hookpost/domain';
import { KAFKA, LOGGER, Projection, Readiness, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The deliverer's own view of every subscription (URL, format, headers, encrypted
 * secrets, status), loaded from the compacted subscription-state topic.
 */
@Injectable()
export class EndpointView implements OnApplicationBootstrap, BeforeApplicationShutdown {
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
      },
      logger,
      readiness,
    );
  }

  /** Settles once the view holds every subscription the topic had at start. */
  get loaded(): Promise<void> {
    return this.projection.loaded;
  }

  onApplicationBootstrap(): void {
    this.projection.start((state, key) => key !== null && this.catalog.put(key, state));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.projection.stop();
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
