import type { SubscriptionEvent } from '@hookpost/contracts';
import { evolve, type Subscription } from './subscription.js';

export interface CatalogChange {
  before: Subscription | undefined;
  after: Subscription;
}

/**
 * An in-memory view of every subscription, folded from subscription events as they
 * arrive from Kafka. Events are applied in version order; a repeat (at-least-once
 * delivery) or an older version is ignored, so replays are harmless.
 */
export class SubscriptionCatalog {
  private readonly subscriptions = new Map<string, Subscription>();

  /** Applies one event; returns what changed, or undefined when it was a repeat. */
  apply(event: SubscriptionEvent): CatalogChange | undefined {
    const before = this.subscriptions.get(event.subscriptionId);
    if (before && event.version <= before.version) return undefined;
    if (!before && event.type !== 'subscription.created') return undefined;
    const after = evolve(before, event);
    if (!after) return undefined;
    this.subscriptions.set(after.id, after);
    return { before, after };
  }

  get(id: string): Subscription | undefined {
    return this.subscriptions.get(id);
  }

  get size(): number {
    return this.subscriptions.size;
  }
}
