import type { SubscriptionState } from '@hookpost/contracts';
import type { Subscription } from './subscription.js';

export interface CatalogChange {
  before: Subscription | undefined;
  /** Undefined when the subscription was removed (a tombstone). */
  after: Subscription | undefined;
}

/**
 * An in-memory view of every subscription, loaded from the compacted subscription-state
 * topic and kept current by it. A state older than (or as old as) the one held is
 * ignored, so repeats and replays are harmless. A deleted subscription stays, marked
 * `deleted`, so that jobs still on their way for it are dropped at once rather than
 * waited on as if its creation were still to come; a tombstone (null) removes it.
 */
export class SubscriptionCatalog {
  private readonly subscriptions = new Map<string, Subscription>();

  /** Takes the latest state of subscription `id`; returns what changed, if anything. */
  put(id: string, state: SubscriptionState | null): CatalogChange | undefined {
    const before = this.subscriptions.get(id);
    if (state === null) {
      if (!before) return undefined;
      this.subscriptions.delete(id);
      return { before, after: undefined };
    }
    if (before && state.version <= before.version) return undefined;
    this.subscriptions.set(id, state);
    return { before, after: state };
  }

  get(id: string): Subscription | undefined {
    return this.subscriptions.get(id);
  }

  get size(): number {
    return this.subscriptions.size;
  }
}
