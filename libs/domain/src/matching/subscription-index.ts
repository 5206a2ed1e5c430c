import type { EventType, IngestedEvent } from '@hookpost/contracts';
import { expandEventFilters } from '../event-filters/event-filters.js';
import type { CatalogChange } from '../subscriptions/catalog.js';
import type { Subscription } from '../subscriptions/subscription.js';

/** What matching needs of a subscription; the matcher keeps only this much of each. */
export type Matchable = Pick<
  Subscription,
  'id' | 'organizationId' | 'events' | 'scope' | 'status' | 'deleted' | 'version'
>;

/** The part of a subscription's state that matching uses. */
export function matchable(state: Subscription): Matchable {
  const { id, organizationId, events, scope, status, deleted, version } = state;
  return { id, organizationId, events, scope, status, deleted, version };
}

/** The subscriptions of one organisation and event type, by what they are scoped to. */
interface Bucket {
  unscoped: Map<string, Matchable>;
  byDomain: Map<string, Map<string, Matchable>>;
  byMailbox: Map<string, Map<string, Matchable>>;
  size: number;
}

/**
 * Finds the subscriptions an event goes to: same organisation, active, listening to the
 * event's type, and, when scoped, covering its sender (or, for inbound mail, its
 * recipient). Indexed by organisation, concrete type and scope (domain or mailbox), so a
 * match looks only at subscriptions that match: its cost grows with the number of
 * matches, not with the number of subscriptions.
 */
export class SubscriptionIndex {
  private readonly byOrgAndType = new Map<string, Map<EventType, Bucket>>();

  /** Keeps the index in step with a catalog change. */
  update(change: CatalogChange<Matchable>): void {
    if (change.before) this.remove(change.before);
    if (change.after && !change.after.deleted && change.after.status === 'active')
      this.add(change.after);
  }

  match(event: Pick<IngestedEvent, 'organization_id' | 'type' | 'data'>): Matchable[] {
    const bucket = this.byOrgAndType.get(event.organization_id)?.get(event.type);
    if (!bucket) return [];
    const out = [...bucket.unscoped.values()];
    if (bucket.byDomain.size === 0 && bucket.byMailbox.size === 0) return out;
    const scoped = new Map<string, Matchable>();
    const party = scopeParty(event);
    for (const mailbox of party.mailboxes) {
      for (const [id, s] of bucket.byMailbox.get(mailbox) ?? []) scoped.set(id, s);
    }
    for (const domain of party.domains) {
      // A domain scope covers its subdomains: look up the domain and each parent.
      for (let d: string | undefined = domain; d; d = parentDomain(d)) {
        for (const [id, s] of bucket.byDomain.get(d) ?? []) scoped.set(id, s);
      }
    }
    return scoped.size === 0 ? out : [...out, ...scoped.values()];
  }

  private add(subscription: Matchable): void {
    let byType = this.byOrgAndType.get(subscription.organizationId);
    if (!byType) this.byOrgAndType.set(subscription.organizationId, (byType = new Map()));
    const { domains, mailboxes } = subscription.scope;
    for (const type of expandEventFilters(subscription.events)) {
      let bucket = byType.get(type);
      if (!bucket) {
        bucket = { unscoped: new Map(), byDomain: new Map(), byMailbox: new Map(), size: 0 };
        byType.set(type, bucket);
      }
      bucket.size++;
      if (domains.length === 0 && mailboxes.length === 0) {
        bucket.unscoped.set(subscription.id, subscription);
        continue;
      }
      for (const domain of domains) addTo(bucket.byDomain, domain, subscription);
      for (const mailbox of mailboxes) addTo(bucket.byMailbox, mailbox, subscription);
    }
  }

  private remove(subscription: Matchable): void {
    const byType = this.byOrgAndType.get(subscription.organizationId);
    if (!byType) return;
    for (const type of expandEventFilters(subscription.events)) {
      const bucket = byType.get(type);
      if (!bucket) continue;
      // A subscription that was not active was never added: it must not count down.
      let removed = bucket.unscoped.delete(subscription.id);
      for (const domain of subscription.scope.domains)
        removed = removeFrom(bucket.byDomain, domain, subscription.id) || removed;
      for (const mailbox of subscription.scope.mailboxes)
        removed = removeFrom(bucket.byMailbox, mailbox, subscription.id) || removed;
      if (removed && --bucket.size === 0) byType.delete(type);
    }
    if (byType.size === 0) this.byOrgAndType.delete(subscription.organizationId);
  }
}

function addTo(map: Map<string, Map<string, Matchable>>, key: string, s: Matchable): void {
  let entries = map.get(key);
  if (!entries) map.set(key, (entries = new Map()));
  entries.set(s.id, s);
}

function removeFrom(map: Map<string, Map<string, Matchable>>, key: string, id: string): boolean {
  const entries = map.get(key);
  if (!entries?.delete(id)) return false;
  if (entries.size === 0) map.delete(key);
  return true;
}

/** `mail.acme.example` -> `acme.example`; undefined for a single label. */
function parentDomain(domain: string): string | undefined {
  const dot = domain.indexOf('.');
  return dot === -1 ? undefined : domain.slice(dot + 1);
}

export interface Party {
  mailboxes: string[];
  domains: string[];
}

/** Whose event this is for scoping: the sender, or for inbound mail the recipients. */
export function scopeParty(event: Pick<IngestedEvent, 'type' | 'data'>): Party {
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
