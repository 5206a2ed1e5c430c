import { subscriptionStateSchema, TOPICS, type SubscriptionState } from '@hookpost/contracts';
import {
  matchable,
  SubscriptionCatalog,
  SubscriptionIndex,
  type Matchable,
} from '@hookpost/domain';
import { KAFKA, LOGGER, Projection, Readiness, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { Gauge } from 'prom-client';

const indexed = new Gauge({
  name: 'hookpost_matcher_subscriptions',
  help: 'Subscriptions in the matcher index',
});

/**
 * The matcher's subscription index, held whole by every matcher process: loaded from the
 * compacted subscription-state topic (one record per subscription, however many changes
 * it had) and kept current by it.
 */
@Injectable()
export class SubscriptionIndexService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly catalog = new SubscriptionCatalog<Matchable>();
  private readonly index = new SubscriptionIndex();
  private readonly projection: Projection<SubscriptionState>;
  /** One copy of each organisation id, shared by its subscriptions. */
  private readonly organizationIds = new Map<string, string>();
  private readonly intern = (id: string): string => {
    const held = this.organizationIds.get(id);
    if (held !== undefined) return held;
    this.organizationIds.set(id, id);
    return id;
  };

  constructor(@Inject(KAFKA) kafka: Kafka, @Inject(LOGGER) logger: Logger, readiness: Readiness) {
    this.projection = new Projection(
      kafka,
      {
        name: 'subscription index',
        service: 'matcher',
        topics: [TOPICS.subscriptionState],
        schema: subscriptionStateSchema,
        // How far each matcher has applied the changes shows in its view group's offsets.
        acknowledge: true,
      },
      logger,
      readiness,
    );
  }

  /** Settles once the index holds every subscription the topic had at start. */
  get loaded(): Promise<void> {
    return this.projection.loaded;
  }

  onApplicationBootstrap(): void {
    this.projection.start((state, key) => {
      if (key === null) return;
      // Only what matching needs is kept: with 100,000 subscriptions, secrets, URLs and
      // headers would more than double the index's memory.
      const change = this.catalog.put(key, state && matchable(state, this.intern));
      if (change) this.index.update(change);
      indexed.set(this.catalog.size);
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.projection.stop();
  }

  match(
    event: Parameters<SubscriptionIndex['match']>[0] & {
      target_subscription_id?: string;
      target_subscription_version?: number;
    },
  ): Array<Pick<Matchable, 'id' | 'organizationId' | 'version'>> {
    const id = event.target_subscription_id;
    if (id === undefined) return this.index.match(event);
    // A test event: its one subscription, if it is in the event's organisation and active.
    const target = this.catalog.get(id);
    const version = event.target_subscription_version;
    if (target && (version === undefined || target.version >= version))
      return target.organizationId === event.organization_id && target.active ? [target] : [];
    // The index has not reached the version the API sent the test for (a subscription made
    // or resumed a moment ago): sent on, as the API judged it. The deliverer waits for
    // that version, and sends only to a subscription that is active then.
    if (version !== undefined) return [{ id, organizationId: event.organization_id, version }];
    return [];
  }
}
