import type { SubscriptionState } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { SubscriptionCatalog } from './catalog.js';

const state = (version: number, overrides: Partial<SubscriptionState> = {}): SubscriptionState => ({
  id: 'wh_1',
  organizationId: 'org_1',
  url: 'https://example.com/hooks',
  events: ['message.delivered'],
  scope: { domains: [], mailboxes: [] },
  headers: {},
  format: 'standard',
  description: null,
  status: 'active',
  secret: 'v1.k.iv.ct.tag',
  previousSecret: null,
  version,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  deleted: false,
  ...overrides,
});

describe('SubscriptionCatalog', () => {
  it('keeps the newest state and ignores repeats and older ones', () => {
    const catalog = new SubscriptionCatalog();
    expect(catalog.put('wh_1', state(2))).toEqual({ before: undefined, after: state(2) });
    expect(catalog.put('wh_1', state(2))).toBeUndefined();
    expect(catalog.put('wh_1', state(1, { url: 'https://old.example' }))).toBeUndefined();
    const change = catalog.put('wh_1', state(3, { status: 'paused' }));
    expect(change?.before?.version).toBe(2);
    expect(catalog.get('wh_1')?.status).toBe('paused');
  });

  it('takes the same version again when it differs (a state folded again and republished)', () => {
    const catalog = new SubscriptionCatalog();
    catalog.put('wh_1', state(2));
    const refolded = state(2, {
      olderSecrets: [{ secret: 'v1.k.old', expiresAt: '2026-01-02T00:00:00.000Z' }],
    });
    expect(catalog.put('wh_1', refolded)).toEqual({ before: state(2), after: refolded });
    expect(catalog.put('wh_1', refolded)).toBeUndefined();
  });

  it('keeps a deleted subscription marked, and removes one on a tombstone', () => {
    const catalog = new SubscriptionCatalog();
    catalog.put('wh_1', state(1));
    expect(catalog.put('wh_1', null)).toEqual({ before: state(1), after: undefined });
    expect(catalog.get('wh_1')).toBeUndefined();
    expect(catalog.put('wh_1', null)).toBeUndefined();
    catalog.put('wh_2', state(1, { id: 'wh_2' }));
    catalog.put('wh_2', state(2, { id: 'wh_2', deleted: true }));
    expect(catalog.get('wh_2')?.deleted).toBe(true);
  });
});
