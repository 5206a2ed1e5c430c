import type { Subscription } from './subscription.js';

export interface CatalogChange<T = Subscription> {
  before: T | undefined;
  /** Undefined when the subscription was removed (a tombstone). */
  after: T | undefined;
}

/**
 * An in-memory view of every subscription, loaded from the compacted subscription-state
 * topic and kept current by it. A state older than the one held, or as old and the same,
 * is ignored, so repeats and replays are harmless. A deleted subscription stays, marked
 * `deleted`, so that jobs still on their way for it are dropped at once rather than
 * waited on as if its creation were still to come; a tombstone (null) removes it.
 * Views that need less than the whole state (the matcher) keep a slimmer `T`.
 */
export class SubscriptionCatalog<T extends { version: number } = Subscription> {
  private readonly subscriptions = new Map<string, T>();

  /** Takes the latest state of subscription `id`; returns what changed, if anything. */
  put(id: string, state: T | null): CatalogChange<T> | undefined {
    const before = this.subscriptions.get(id);
    if (state === null) {
      if (!before) return undefined;
      this.subscriptions.delete(id);
      return { before, after: undefined };
    }
    if (before && state.version < before.version) return undefined;
    // The same version again is a repeat, unless it differs: a state folded again by a
    // newer release (`rebuild-projections --republish`) must reach running views too.
    if (before && state.version === before.version && sameState(before, state)) return undefined;
    this.subscriptions.set(id, state);
    return { before, after: state };
  }

  get(id: string): T | undefined {
    return this.subscriptions.get(id);
  }

  get size(): number {
    return this.subscriptions.size;
  }
}

function sameState(a: object, b: object): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
