import type { OrganizationEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { Organizations } from './organizations.js';

function event(organizationId: string, minute: number, domains: string[]): OrganizationEvent {
  return {
    eventId: `${organizationId}-${minute}`,
    type: minute === 0 ? 'organization.created' : 'organization.updated',
    organizationId,
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
    data: { name: organizationId, domains },
  };
}

/** Every order of `items` that keeps each organisation's own events in order. */
function interleavings(items: OrganizationEvent[]): OrganizationEvent[][] {
  if (items.length === 0) return [[]];
  const firsts = items.filter(
    (e, i) => !items.slice(0, i).some((x) => x.organizationId === e.organizationId),
  );
  return firsts.flatMap((first) =>
    interleavings(items.filter((e) => e !== first)).map((rest) => [first, ...rest]),
  );
}

describe('Organizations', () => {
  it('knows each organisation, and routes a domain to the one that holds it', () => {
    const organizations = new Organizations();
    organizations.apply(event('org_a', 0, ['a.example', 'shared.example']));
    expect(organizations.has('org_a')).toBe(true);
    expect(organizations.has('org_b')).toBe(false);
    expect(organizations.byDomain('a.example')).toBe('org_a');
    expect(organizations.byDomain('b.example')).toBeUndefined();
    organizations.apply(event('org_a', 1, ['a.example']));
    expect(organizations.byDomain('shared.example')).toBeUndefined();
  });

  it('ends with a moved domain at its new owner, in whatever order the organisations come', () => {
    // A holds x, lets it go; then B claims it.
    const history = [
      event('org_a', 0, ['x.example']),
      event('org_a', 1, []),
      event('org_b', 2, ['x.example', 'b.example']),
    ];
    const orders = interleavings(history);
    expect(orders).toHaveLength(3);
    for (const order of orders) {
      const organizations = new Organizations();
      for (const e of order) organizations.apply(e);
      expect(organizations.byDomain('x.example'), order.map((e) => e.eventId).join()).toBe('org_b');
    }
  });

  it('gives a domain claimed twice meanwhile to the newer claim, and back when it goes', () => {
    const organizations = new Organizations();
    organizations.apply(event('org_b', 2, ['x.example']));
    // A's old claim arrives late: B's claim came after A let go.
    organizations.apply(event('org_a', 0, ['x.example']));
    expect(organizations.byDomain('x.example')).toBe('org_b');
    organizations.apply(event('org_a', 1, []));
    expect(organizations.byDomain('x.example')).toBe('org_b');
    // And moved back to A later: A's newer event holds it while B's release is on its way.
    organizations.apply(event('org_a', 4, ['x.example']));
    expect(organizations.byDomain('x.example')).toBe('org_a');
    organizations.apply(event('org_b', 3, []));
    expect(organizations.byDomain('x.example')).toBe('org_a');
  });
  it("passes over an organisation's event older than one already applied", () => {
    // The topic gained partitions: A's newer event went to another partition than its
    // older one, which compaction keeps, and which may be read last.
    const organizations = new Organizations();
    organizations.apply(event('org_a', 5, ['new.example']));
    organizations.apply(event('org_a', 1, ['old.example']));
    expect(organizations.byDomain('new.example')).toBe('org_a');
    expect(organizations.byDomain('old.example')).toBeUndefined();
  });

  /** An event of an organisation's `version`th change, its time at `minute`. */
  const versioned = (version: number, minute: number, domains: string[]) => ({
    ...event('org_a', minute, domains),
    type: version === 1 ? ('organization.created' as const) : ('organization.updated' as const),
    eventId: `org_a@${version}`,
    version,
  });

  it("orders an organisation's events by version, whatever their times say", () => {
    const organizations = new Organizations();
    // Created with the API host's clock ahead of the database's.
    organizations.apply(versioned(1, 10, ['a.example']));
    organizations.apply(versioned(2, 3, ['b.example']));
    expect(organizations.byDomain('b.example')).toBe('org_a');
    // Two changes at once: the one that began first committed last.
    organizations.apply(versioned(3, 5, ['c.example']));
    organizations.apply(versioned(4, 4, ['d.example']));
    expect(organizations.byDomain('d.example')).toBe('org_a');
    expect(organizations.byDomain('c.example')).toBeUndefined();
    // And an older version read late (another partition) is passed over, however new its time.
    organizations.apply(versioned(3, 5, ['c.example']));
    expect(organizations.byDomain('d.example')).toBe('org_a');
    expect(organizations.byDomain('c.example')).toBeUndefined();
  });

  it('compares by time an event from before versions, as before', () => {
    const organizations = new Organizations();
    organizations.apply(event('org_a', 1, ['old.example']));
    organizations.apply(versioned(2, 2, ['new.example']));
    expect(organizations.byDomain('new.example')).toBe('org_a');
    organizations.apply(event('org_a', 1, ['old.example']));
    expect(organizations.byDomain('new.example')).toBe('org_a');
    expect(organizations.byDomain('old.example')).toBeUndefined();
  });

  it('forgets a deleted organisation and frees its domains, even if an older event comes late', () => {
    const organizations = new Organizations();
    organizations.apply(versioned(1, 0, ['a.example']));
    organizations.apply({ ...versioned(2, 1, []), type: 'organization.deleted' });
    expect(organizations.has('org_a')).toBe(false);
    expect(organizations.byDomain('a.example')).toBeUndefined();
    // Its creation read again (another partition) does not bring it back.
    organizations.apply(versioned(1, 0, ['a.example']));
    expect(organizations.has('org_a')).toBe(false);
    expect(organizations.byDomain('a.example')).toBeUndefined();
    // And the domain can go to another organisation.
    organizations.apply(event('org_b', 2, ['a.example']));
    expect(organizations.byDomain('a.example')).toBe('org_b');
  });
});
