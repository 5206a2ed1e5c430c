import type { SubscriptionEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { historyEntry, type HeaderNames } from './history.js';

const base = {
  eventId: 'evt_1',
  subscriptionId: 'wh_1',
  organizationId: 'org_1',
  occurredAt: '2026-12-07T10:00:00.000Z',
};
const names: HeaderNames = (stored) =>
  typeof stored === 'string' ? (stored.includes('lost') ? null : ['X-Token']) : Object.keys(stored);

describe('historyEntry', () => {
  it('shows what a creation set, with header names and no secret', () => {
    const event: SubscriptionEvent = {
      ...base,
      version: 1,
      type: 'subscription.created',
      actor: { kind: 'api_key', id: 'key_1' },
      data: {
        url: 'https://hooks.example.com/a',
        events: ['message.delivered'],
        scope: { domains: [], mailboxes: [] },
        headers: 'v1.k1.iv.sealed-token-header.tag',
        format: 'standard',
        description: null,
        rateLimit: 5,
        metadata: { team: 'mail' },
        secret: 'v1.k1.iv.secret.tag',
      },
    };
    const entry = historyEntry(event, names);
    expect(entry).toEqual({
      version: 1,
      type: 'created',
      occurred_at: base.occurredAt,
      actor: { kind: 'api_key', id: 'key_1' },
      changes: {
        url: 'https://hooks.example.com/a',
        events: ['message.delivered'],
        scope: { domains: [], mailboxes: [] },
        header_names: ['X-Token'],
        format: 'standard',
        description: null,
        rate_limit: 5,
        metadata: { team: 'mail' },
      },
    });
    expect(JSON.stringify(entry)).not.toContain('v1.k1');
  });

  it('shows only the fields an update set; headers that cannot be opened as null', () => {
    const event: SubscriptionEvent = {
      ...base,
      version: 2,
      type: 'subscription.updated',
      data: { description: 'new', headers: 'v1.k0.iv.lost.tag', rateLimit: null },
    };
    expect(historyEntry(event, names)).toEqual({
      version: 2,
      type: 'updated',
      occurred_at: base.occurredAt,
      actor: null,
      changes: { description: 'new', header_names: null, rate_limit: null },
    });
  });

  it('says why a status changed and by whom, and keeps rotated secrets out', () => {
    const paused = historyEntry(
      {
        ...base,
        version: 3,
        type: 'subscription.status_changed',
        actor: { kind: 'hookpost' },
        data: { status: 'failed', reason: 'auto_pause' },
      },
      names,
    );
    expect(paused).toMatchObject({
      type: 'status_changed',
      actor: { kind: 'hookpost' },
      changes: { status: 'failed', reason: 'auto_pause' },
    });
    const rotated = historyEntry(
      {
        ...base,
        version: 4,
        type: 'subscription.secret_rotated',
        actor: { kind: 'api_key', id: 'key_1' },
        data: {
          secret: 'v1.k1.iv.new.tag',
          previousSecret: 'v1.k1.iv.old.tag',
          previousSecretExpiresAt: '2026-12-08T10:00:00.000Z',
        },
      },
      names,
    );
    expect(rotated.changes).toEqual({ previous_secret_expires_at: '2026-12-08T10:00:00.000Z' });
    const reencrypted = historyEntry(
      {
        ...base,
        version: 5,
        type: 'subscription.secrets_reencrypted',
        actor: { kind: 'operator' },
        data: { secret: 'v1.k2.iv.new.tag', previousSecret: null },
      },
      names,
    );
    expect(reencrypted).toMatchObject({ type: 'secrets_reencrypted', changes: {} });
    expect(JSON.stringify([rotated, reencrypted])).not.toContain('v1.k');
  });
});
