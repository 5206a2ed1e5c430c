import type { IngestedEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { SubscriptionCatalog } from '../subscriptions/catalog.js';
import { decide, evolve, type CreateCommand } from '../subscriptions/subscription.js';
import { matchable, SubscriptionIndex, type Matchable } from './subscription-index.js';

const now = new Date('2026-01-01T00:00:00Z');

function setup() {
  const catalog = new SubscriptionCatalog();
  // The matcher's own view: only what matching needs of each state.
  const matchables = new SubscriptionCatalog<Matchable>();
  const index = new SubscriptionIndex();
  const apply = (events: ReturnType<typeof decide>) => {
    // As the API publishes them: each event's resulting state, on the state topic.
    for (const event of events) {
      const state = evolve(catalog.get(event.subscriptionId), event);
      catalog.put(event.subscriptionId, state ?? null);
      const change = matchables.put(event.subscriptionId, state ? matchable(state) : null);
      if (change) index.update(change);
    }
  };
  const create = (id: string, overrides: Partial<CreateCommand> = {}) =>
    apply(
      decide(
        {
          type: 'create',
          subscriptionId: id,
          organizationId: 'org_a',
          url: 'https://example.com',
          events: ['message.delivered'],
          scope: { domains: [], mailboxes: [] },
          headers: {},
          format: 'standard',
          description: null,
          rateLimit: null,
          metadata: {},
          secret: 'v1.x',
          ...overrides,
        },
        undefined,
        now,
      ),
    );
  const change = (id: string, command: Parameters<typeof decide>[0]) =>
    apply(decide(command, catalog.get(id), now));
  return { index, create, change };
}

const event = (
  type: IngestedEvent['type'],
  data: IngestedEvent['data'] = {},
  organization_id = 'org_a',
) => ({
  organization_id,
  type,
  data,
});
const ids = (subs: Array<{ id: string }>) => subs.map((s) => s.id).sort();

describe('subscription index', () => {
  it('matches on organisation and event type, wildcards included', () => {
    const { index, create } = setup();
    create('wh_delivered');
    create('wh_all_messages', { events: ['message.*'] });
    create('wh_everything', { events: ['*'] });
    create('wh_other_org', { organizationId: 'org_b' });
    expect(ids(index.match(event('message.delivered')))).toEqual([
      'wh_all_messages',
      'wh_delivered',
      'wh_everything',
    ]);
    expect(ids(index.match(event('domain.dns_error')))).toEqual(['wh_everything']);
    expect(ids(index.match(event('message.delivered', {}, 'org_b')))).toEqual(['wh_other_org']);
    expect(index.match(event('message.delivered', {}, 'org_nobody'))).toEqual([]);
  });

  it('drops paused and deleted subscriptions and takes back resumed ones', () => {
    const { index, create, change } = setup();
    create('wh_1');
    change('wh_1', { type: 'pause' });
    expect(index.match(event('message.delivered'))).toEqual([]);
    change('wh_1', { type: 'resume' });
    expect(ids(index.match(event('message.delivered')))).toEqual(['wh_1']);
    change('wh_1', { type: 'delete' });
    expect(index.match(event('message.delivered'))).toEqual([]);
  });

  it('keeps the others matching while one is paused, resumed or deleted', () => {
    const { index, create, change } = setup();
    create('wh_other');
    create('wh_scoped_other', { scope: { domains: ['a.example'], mailboxes: [] } });
    create('wh_1');
    create('wh_2', { scope: { domains: ['a.example'], mailboxes: [] } });
    const sent = event('message.delivered', { from: 'x@a.example' });
    change('wh_1', { type: 'pause' });
    change('wh_2', { type: 'pause' });
    expect(ids(index.match(sent))).toEqual(['wh_other', 'wh_scoped_other']);
    change('wh_1', { type: 'resume' });
    change('wh_2', { type: 'resume' });
    expect(ids(index.match(sent))).toEqual(['wh_1', 'wh_2', 'wh_other', 'wh_scoped_other']);
    change('wh_1', { type: 'pause' });
    change('wh_1', { type: 'delete' });
    change('wh_2', { type: 'delete' });
    expect(ids(index.match(sent))).toEqual(['wh_other', 'wh_scoped_other']);
  });

  it('follows a change of event filter', () => {
    const { index, create, change } = setup();
    create('wh_1');
    change('wh_1', { type: 'update', changes: { events: ['message.bounced'] } });
    expect(index.match(event('message.delivered'))).toEqual([]);
    expect(ids(index.match(event('message.bounced')))).toEqual(['wh_1']);
  });

  it('scopes by sender domain or mailbox, inbound mail by recipient, a DNS error by its domain', () => {
    const { index, create } = setup();
    create('wh_domain', { events: ['*'], scope: { domains: ['acme.example'], mailboxes: [] } });
    create('wh_mailbox', {
      events: ['*'],
      scope: { domains: [], mailboxes: ['sales@acme.example'] },
    });
    create('wh_unscoped', { events: ['*'] });
    expect(
      ids(index.match(event('message.delivered', { from: 'News <news@Acme.example>' }))),
    ).toEqual(['wh_domain', 'wh_unscoped']);
    expect(ids(index.match(event('message.delivered', { from: 'sales@acme.example' })))).toEqual([
      'wh_domain',
      'wh_mailbox',
      'wh_unscoped',
    ]);
    expect(ids(index.match(event('message.delivered', { from: 'a@mail.acme.example' })))).toEqual([
      'wh_domain',
      'wh_unscoped',
    ]);
    expect(ids(index.match(event('message.delivered', { from: 'a@other.example' })))).toEqual([
      'wh_unscoped',
    ]);
    expect(
      ids(
        index.match(
          event('message.received', { from: 'x@other.example', to: ['sales@acme.example'] }),
        ),
      ),
    ).toEqual(['wh_domain', 'wh_mailbox', 'wh_unscoped']);
    // A DNS error, by the domain it is about.
    expect(ids(index.match(event('domain.dns_error', { domain: 'Mail.Acme.example' })))).toEqual([
      'wh_domain',
      'wh_unscoped',
    ]);
    expect(ids(index.match(event('domain.dns_error', { domain: 'other.example' })))).toEqual([
      'wh_unscoped',
    ]);
  });

  it('scopes mail Postal marks incoming by recipient, and reads address lists', () => {
    const { index, create } = setup();
    create('wh_domain', { events: ['*'], scope: { domains: ['acme.example'], mailboxes: [] } });
    // Postal's MessageSent for mail it received and passed on: whoever wrote in is not ours.
    const incoming = (from: string, to: string) =>
      event('message.delivered', { from, to, direction: 'incoming' });
    expect(ids(index.match(incoming('x@other.example', 'support@acme.example')))).toEqual([
      'wh_domain',
    ]);
    expect(ids(index.match(incoming('sales@acme.example', 'x@other.example')))).toEqual([]);
    expect(
      ids(
        index.match(
          event('message.delivered', { from: '"Doe, Jo" <jo@other.example>, news@acme.example' }),
        ),
      ),
    ).toEqual(['wh_domain']);
  });

  it('finds a scoped subscription once, and only for the types it listens to', () => {
    const { index, create, change } = setup();
    create('wh_both', {
      events: ['message.bounced', 'message.delivered'],
      scope: { domains: ['acme.example'], mailboxes: ['sales@acme.example'] },
    });
    const from = { from: 'sales@acme.example' };
    expect(ids(index.match(event('message.delivered', from)))).toEqual(['wh_both']);
    expect(index.match(event('message.opened', from))).toEqual([]);
    change('wh_both', { type: 'update', changes: { events: ['message.opened'] } });
    expect(index.match(event('message.delivered', from))).toEqual([]);
    expect(ids(index.match(event('message.opened', from)))).toEqual(['wh_both']);
  });
});
