import type { OrganizationEvent } from '@hookpost/contracts';

/** Where an organisation's event stands among its others. */
interface Stamp {
  /** The organisation's count of changes, in commit order; absent in older events. */
  version: number | undefined;
  at: number;
}

/**
 * Whether an event of an organisation is older than another of it. Versions order them
 * as their changes committed; times do not (the writing transaction's start, which two
 * concurrent changes may commit in either order, or the API host's clock), and decide
 * only for an event from before versions existed.
 */
function precedes(event: Stamp, other: Stamp): boolean {
  if (event.version !== undefined && other.version !== undefined)
    return event.version < other.version;
  return event.at < other.at;
}

/**
 * Every organisation and its registered sending domains, folded from the organisation
 * events. The API lets one organisation at a time hold a domain, but the events come on
 * different partitions, in no set order across organisations: a domain that moved from A
 * to B may be B's here before A's release of it arrives, or A's claim may arrive after
 * B's. So every organisation whose latest event lists a domain claims it, and while two
 * do, the one whose latest event is newer holds it (its claim came after the other let
 * go). Once every event is in, one claim is left, whatever the order they came in.
 */
export class Organizations {
  private readonly domainsOf = new Map<string, readonly string[]>();
  private readonly latest = new Map<string, Stamp>();
  private readonly claims = new Map<string, Set<string>>();

  apply(event: OrganizationEvent): void {
    const id = event.organizationId;
    const stamp = { version: event.version, at: Date.parse(event.occurredAt) };
    // One organisation's events are keyed by it, so they come in order, except after the
    // topic gained partitions: the partition it was on keeps its older events for good
    // (compaction is per partition), and may be read after the newer one. An event older
    // than what is known of the organisation is passed over.
    const known = this.latest.get(id);
    if (known && precedes(stamp, known)) return;
    for (const domain of this.domainsOf.get(id) ?? []) {
      const claimants = this.claims.get(domain);
      claimants?.delete(id);
      if (claimants?.size === 0) this.claims.delete(domain);
    }
    // A deleted organisation keeps its stamp, so that an older event of it read late
    // cannot bring it back.
    this.latest.set(id, stamp);
    if (event.type === 'organization.deleted') {
      this.domainsOf.delete(id);
      return;
    }
    this.domainsOf.set(id, event.data.domains);
    for (const domain of event.data.domains) {
      const claimants = this.claims.get(domain);
      if (claimants) claimants.add(id);
      else this.claims.set(domain, new Set([id]));
    }
  }

  has(organizationId: string): boolean {
    return this.domainsOf.has(organizationId);
  }

  byDomain(domain: string): string | undefined {
    const claimants = this.claims.get(domain);
    if (!claimants) return undefined;
    let owner: string | undefined;
    for (const id of claimants) {
      if (owner === undefined || this.latest.get(id)!.at > this.latest.get(owner)!.at) owner = id;
    }
    return owner;
  }
}
