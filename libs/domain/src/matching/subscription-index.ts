import { EVENT_TYPES, type IngestedEvent } from '@hookpost/contracts';
import { expandEventFilters } from '../event-filters/event-filters.js';
import type { CatalogChange } from '../subscriptions/catalog.js';
import type { Subscription } from '../subscriptions/subscription.js';

/**
 * What matching needs of a subscription; the matcher keeps only this much of each. With
 * 100,000 subscriptions in every matcher process, each field here costs megabytes: the
 * event filter is held as one bit per concrete type, and the status as one boolean.
 */
export interface Matchable {
  readonly id: string;
  readonly organizationId: string;
  readonly version: number;
  /** Active and not deleted: the only subscriptions that get new deliveries. */
  readonly active: boolean;
  /** The concrete event types it listens to, wildcards expanded: bit i is EVENT_TYPES[i]. */
  readonly types: number;
  readonly domains: readonly string[];
  readonly mailboxes: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);
const TYPE_BITS = new Map<string, number>(EVENT_TYPES.map((type, i) => [type, 1 << i]));

/**
 * The part of a subscription's state that matching uses. `intern` lets the caller share
 * one copy of a string many states repeat (the organisation id), where each parsed
 * state would otherwise bring its own.
 */
export function matchable(
  state: Subscription,
  intern: (text: string) => string = (text) => text,
): Matchable {
  let types = 0;
  for (const type of expandEventFilters(state.events)) types |= TYPE_BITS.get(type)!;
  return {
    id: state.id,
    organizationId: intern(state.organizationId),
    version: state.version,
    active: state.status === 'active' && !state.deleted,
    types,
    // Most subscriptions scope by one of the two or neither: share one empty list.
    domains: state.scope.domains.length > 0 ? state.scope.domains : NONE,
    mailboxes: state.scope.mailboxes.length > 0 ? state.scope.mailboxes : NONE,
  };
}

/** The active subscriptions of one organisation: unscoped ones by type, scoped ones by scope. */
interface OrganizationIndex {
  unscoped: Map<string, Matchable[]>;
  byDomain: Map<string, Matchable[]>;
  byMailbox: Map<string, Matchable[]>;
}

/**
 * Finds the subscriptions an event goes to: same organisation, active, listening to the
 * event's type, and, when scoped, covering its sender (or, for inbound mail, its
 * recipient). Unscoped subscriptions are indexed by organisation and concrete type;
 * scoped ones by organisation and domain or mailbox, then checked against the type's
 * bit. A match looks only at subscriptions of the event's organisation that listen to its
 * type or are scoped to its sender: its cost grows with those, not with the number of
 * subscriptions. Entries are short arrays rather than maps: most hold one subscription,
 * and an array of one costs a fraction of a map of one.
 */
export class SubscriptionIndex {
  private readonly byOrganization = new Map<string, OrganizationIndex>();

  /** Keeps the index in step with a catalog change. */
  update(change: CatalogChange<Matchable>): void {
    if (change.before?.active) this.remove(change.before);
    if (change.after?.active) this.add(change.after);
  }

  match(event: Pick<IngestedEvent, 'organization_id' | 'type' | 'data'>): Matchable[] {
    const org = this.byOrganization.get(event.organization_id);
    if (!org) return [];
    const unscoped = org.unscoped.get(event.type);
    const out = unscoped ? unscoped.slice() : [];
    if (org.byDomain.size === 0 && org.byMailbox.size === 0) return out;
    const bit = TYPE_BITS.get(event.type) ?? 0;
    // A subscription scoped to both a domain and a mailbox of the sender is found twice.
    const found = new Set<Matchable>();
    const take = (entries: Matchable[] | undefined) => {
      if (!entries) return;
      for (const s of entries) {
        if ((s.types & bit) !== 0 && !found.has(s)) {
          found.add(s);
          out.push(s);
        }
      }
    };
    const party = scopeParty(event);
    for (const mailbox of party.mailboxes) take(org.byMailbox.get(mailbox));
    for (const domain of party.domains) {
      // A domain scope covers its subdomains: look up the domain and each parent.
      for (let d: string | undefined = domain; d; d = parentDomain(d)) take(org.byDomain.get(d));
    }
    return out;
  }

  private add(s: Matchable): void {
    let org = this.byOrganization.get(s.organizationId);
    if (!org) {
      org = { unscoped: new Map(), byDomain: new Map(), byMailbox: new Map() };
      this.byOrganization.set(s.organizationId, org);
    }
    if (s.domains.length === 0 && s.mailboxes.length === 0) {
      for (const [type, bit] of TYPE_BITS) if ((s.types & bit) !== 0) addTo(org.unscoped, type, s);
      return;
    }
    for (const domain of s.domains) addTo(org.byDomain, domain, s);
    for (const mailbox of s.mailboxes) addTo(org.byMailbox, mailbox, s);
  }

  private remove(s: Matchable): void {
    const org = this.byOrganization.get(s.organizationId);
    if (!org) return;
    for (const [type, bit] of TYPE_BITS)
      if ((s.types & bit) !== 0) removeFrom(org.unscoped, type, s.id);
    for (const domain of s.domains) removeFrom(org.byDomain, domain, s.id);
    for (const mailbox of s.mailboxes) removeFrom(org.byMailbox, mailbox, s.id);
    if (org.unscoped.size === 0 && org.byDomain.size === 0 && org.byMailbox.size === 0)
      this.byOrganization.delete(s.organizationId);
  }
}

function addTo(map: Map<string, Matchable[]>, key: string, s: Matchable): void {
  const entries = map.get(key);
  if (entries) entries.push(s);
  else map.set(key, [s]);
}

/** Removes subscription `id` from `map[key]` by id: the state held may be an older copy. */
function removeFrom(map: Map<string, Matchable[]>, key: string, id: string): void {
  const entries = map.get(key);
  const at = entries?.findIndex((s) => s.id === id) ?? -1;
  if (at === -1) return;
  if (entries!.length === 1) map.delete(key);
  else entries!.splice(at, 1);
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

/**
 * Mail the platform received. Postal reports an incoming message it passed on to its
 * endpoint with the types of sent mail (MessageSent, MessageDeliveryFailed, ...), marked
 * `direction: incoming`: its sender is whoever wrote in, not the platform's customer.
 */
export function isInbound(event: Pick<IngestedEvent, 'type' | 'data'>): boolean {
  return event.type === 'message.received' || event.data.direction === 'incoming';
}

/**
 * Whose event this is for scoping and for finding its organisation: the sender, for
 * inbound mail the recipients, and for a DNS error the sending domain it is about. A
 * field may list several addresses, in an array or separated by commas.
 */
export function scopeParty(event: Pick<IngestedEvent, 'type' | 'data'>): Party {
  if (event.type === 'domain.dns_error') {
    const domain = event.data.domain;
    return {
      mailboxes: [],
      domains: typeof domain === 'string' ? [domain.trim().toLowerCase()] : [],
    };
  }
  const raw: unknown = isInbound(event) ? event.data.to : event.data.from;
  const addresses = (Array.isArray(raw) ? raw : [raw])
    .flatMap((item) => (typeof item === 'string' ? item.split(',') : []))
    .map(bareAddress)
    .filter((a) => a.includes('@'));
  return { mailboxes: addresses, domains: addresses.map((a) => a.slice(a.lastIndexOf('@') + 1)) };
}

/** `"Ann" <ann@Example.com>` -> `ann@example.com` */
function bareAddress(text: string): string {
  const angle = /<([^>]+)>/.exec(text);
  return (angle?.[1] ?? text).trim().toLowerCase();
}
