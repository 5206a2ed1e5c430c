import { describe, expect, it } from 'vitest';
import { deriveId, isId, newId } from './ids.js';

describe('ids', () => {
  it('makes prefixed ids that parse back and sort by time', () => {
    const early = newId('webhook', Date.UTC(2026, 0, 1));
    const late = newId('webhook', Date.UTC(2026, 0, 2));
    expect(early).toMatch(/^wh_[0-9A-Z]{26}$/);
    expect(isId('webhook', early)).toBe(true);
    expect(early < late).toBe(true);
  });

  it('refuses an id of another kind or a malformed one', () => {
    expect(isId('organization', newId('webhook'))).toBe(false);
    expect(isId('webhook', 'wh_short')).toBe(false);
    expect(isId('webhook', 42)).toBe(false);
  });

  it('derives the same id from the same parts, and a different one otherwise', () => {
    expect(deriveId('delivery', 'evt_a', 'wh_b')).toBe(deriveId('delivery', 'evt_a', 'wh_b'));
    expect(deriveId('delivery', 'evt_a', 'wh_b')).not.toBe(deriveId('delivery', 'evt_ab', 'wh_'));
    expect(isId('delivery', deriveId('delivery', 'x'))).toBe(true);
  });
});
