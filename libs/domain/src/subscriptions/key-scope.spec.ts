import { describe, expect, it } from 'vitest';
import { isScopedKey, keyCovers } from './key-scope.js';

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
});
