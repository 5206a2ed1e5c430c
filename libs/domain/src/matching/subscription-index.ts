import type { EventType, IngestedEvent } from '@hookpost/contracts';
import { expandEventFilters } from '../event-filters/event-filters.js';
import type { CatalogChange } from '../subscriptions/catalog.js';
import type { Subscription } from '../subscriptions/subscription.js';

/**
 * Finds the subscriptions an event goes to: same organisation, active, listening to the
 * event's type, and, when scoped, covering its sender (or, for inbound mail, its
 * recipient). Indexed by organisation and concrete type, so the cost of a match grows
 * with the number of candidates, not with the number of subscriptions.
 */
export class SubscriptionIndex {
  private readonly byOrgAndType = new Map<string, Map<EventType, Map<string, Subscription>>>();

  /** Keeps the index in step with a catalog change. */
  update(change: CatalogChange): void {
    if (change.before) this.remove(change.before);
    if (!change.after.deleted && change.after.status === 'active') this.add(change.after);
  }

  match(event: Pick<IngestedEvent, 'organization_id' | 'type' | 'data'>): Subscription[] {
    const candidates = this.byOrgAndType.get(event.organization_id)?.get(event.type);
    if (!candidates) return [];
    const party = scopeParty(event);
    const out: Subscription[] = [];
    for (const subscription of candidates.values()) {
      if (inScope(subscription, party)) out.push(subscription);
    }
    return out;
  }

  private add(subscription: Subscription): void {
    let byType = this.byOrgAndType.get(subscription.organizationId);
    if (!byType) this.byOrgAndType.set(subscription.organizationId, (byType = new Map()));
    for (const type of expandEventFilters(subscription.events)) {
      let bucket = byType.get(type);
      if (!bucket) byType.set(type, (bucket = new Map()));
      bucket.set(subscription.id, subscription);
    }
  }

  private remove(subscription: Subscription): void {
    const byType = this.byOrgAndType.get(subscription.organizationId);
    if (!byType) return;
    for (const [type, bucket] of byType) {
      bucket.delete(subscription.id);
      if (bucket.size === 0) byType.delete(type);
    }
    if (byType.size === 0) this.byOrgAndType.delete(subscription.organizationId);
  }
}

interface Party {
  mailboxes: string[];
  domains: string[];
}

/** Whose event this is for scoping: the sender, or for inbound mail the recipients. */
function scopeParty(event: Pick<IngestedEvent, 'type' | 'data'>): Party {
  const raw = event.type === 'message.received' ? event.data.to : event.data.from;
  const addresses = (Array.isArray(raw) ? raw : raw ? [raw] : [])
    .map(bareAddress)
    .filter((a) => a.includes('@'));
  return { mailboxes: addresses, domains: addresses.map((a) => a.slice(a.lastIndexOf('@') + 1)) };
}

/** `"Ann" <ann@Example.com>` -> `ann@example.com` */
function bareAddress(text: string): string {
  const angle = /<([^>]+)>/.exec(text);
  return (angle?.[1] ?? text).trim().toLowerCase();
}

function inScope(subscription: Subscription, party: Party): boolean {
  const { domains, mailboxes } = subscription.scope;
  if (domains.length === 0 && mailboxes.length === 0) return true;
  return (
    party.mailboxes.some((m) => mailboxes.includes(m)) ||
    party.domains.some(
      (d) => domains.includes(d) || domains.some((scoped) => d.endsWith(`.${scoped}`)),
    )
  );
}
