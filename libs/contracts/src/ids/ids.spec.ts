import { describe, expect, it } from 'vitest';
import { deriveId, firstIdAt, isId, newId } from './ids.js';

describe('ids', () => {
  it('makes prefixed ids that parse back and sort by time', () => {
    const early = newId('webhook', Date.UTC(2026, 0, 1));
    const late = newId('webhook', Date.UTC(2026, 0, 2));
    expect(early).toMatch(/^wh_[0-9A-Z]{26}$/);
    expect(isId('webhook', early)).toBe(true);
    expect(early < late).toBe(true);
  });

  it('gives the first id of a moment: every id made then or later sorts after it, none before', () => {
    const at = Date.parse('2026-12-07T09:00:00.000Z');
    const first = firstIdAt('attempt', at);
    expect(isId('attempt', first)).toBe(true);
    expect(first.endsWith('0'.repeat(16))).toBe(true);
    for (let i = 0; i < 100; i++) {
      expect(newId('attempt', at) >= first).toBe(true);
      expect(newId('attempt', at + 1) > first).toBe(true);
      expect(newId('attempt', at - 1) < first).toBe(true);
    }
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

  it('derives the ids it always derived: they are stored, and repeats must match them', () => {
    expect(
      deriveId('delivery', 'evt_01JD0000000000000000000000', 'wh_01JD0000000000000000000001'),
    ).toBe('del_7X9WHD2W7Q71A9T58FR4Z3C3N4');
    expect(deriveId('event', 'org_x', 'source-id-\u00e9')).toBe('evt_X7P6GSATCR463JDQ7GGTHZDW9E');
  });

  it('encodes the time in the first ten characters, and draws fresh randomness for each id', () => {
    const at = Date.UTC(2026, 11, 2, 15, 0, 0);
    const ids = Array.from({ length: 1_000 }, () => newId('attempt', at));
    expect(new Set(ids).size).toBe(ids.length);
    // 48 bits of milliseconds in Crockford base32, as a ULID has them.
    const time = ids[0]!.slice(4, 14);
    const decoded = [...time].reduce(
      (n, c) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c),
      0,
    );
    expect(decoded).toBe(at);
    for (const id of ids) expect(id.slice(4, 14)).toBe(time);
  });
});
