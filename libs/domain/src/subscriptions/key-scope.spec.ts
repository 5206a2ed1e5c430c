import { describe, expect, it } from 'vitest';
import { isScopedKey, keyCovers, keyCoversEvent } from './key-scope.js';

const scope = (domains: string[] = [], mailboxes: string[] = []) => ({ domains, mailboxes });

describe('API key scope', () => {
  it('an organisation-wide key covers everything', () => {
    expect(isScopedKey({})).toBe(false);
    expect(keyCovers({}, scope())).toBe(true);
    expect(keyCovers({ domains: [], mailboxes: [] }, scope(['a.example']))).toBe(true);
  });

  it('a domain key covers its domain, its subdomains and their mailboxes only', () => {
    const key = { domains: ['acme.example'] };
    expect(keyCovers(key, scope(['acme.example']))).toBe(true);
    expect(keyCovers(key, scope(['mail.acme.example']))).toBe(true);
    expect(keyCovers(key, scope([], ['ann@acme.example']))).toBe(true);
    expect(keyCovers(key, scope(['acme.example', 'other.example']))).toBe(false);
    expect(keyCovers(key, scope(['notacme.example']))).toBe(false);
    expect(keyCovers(key, scope([], ['ann@other.example']))).toBe(false);
    // Unscoped means every sender of the organisation: more than this key may see.
    expect(keyCovers(key, scope())).toBe(false);
  });

  it('a mailbox key covers exactly its mailboxes', () => {
    const key = { mailboxes: ['ann@acme.example'] };
    expect(keyCovers(key, scope([], ['ann@acme.example']))).toBe(true);
    expect(keyCovers(key, scope([], ['bob@acme.example']))).toBe(false);
    expect(keyCovers(key, scope(['acme.example']))).toBe(false);
  });

  it('lets a scoped key see the events of its senders, or inbound of its recipients', () => {
    const key = { domains: ['acme.example'] };
    const sent = (from: string) => ({ type: 'message.delivered' as const, data: { from } });
    expect(keyCoversEvent(key, sent('News <news@mail.acme.example>'))).toBe(true);
    expect(keyCoversEvent(key, sent('news@other.example'))).toBe(false);
    expect(
      keyCoversEvent(key, { type: 'message.received', data: { to: ['x@acme.example'] } }),
    ).toBe(true);
    expect(keyCoversEvent({}, sent('anyone@anywhere.example'))).toBe(true);
  });
});
