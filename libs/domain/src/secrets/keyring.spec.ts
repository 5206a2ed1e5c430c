import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  boundTo,
  decryptSecret,
  encryptSecret,
  keyringFromSettings,
  needsReencryption,
  parseKeyring,
} from './keyring.js';

const key = () => randomBytes(32).toString('base64');

describe('secret keyring', () => {
  it('round-trips and never contains the plaintext', () => {
    const keyring = parseKeyring(`a:${key()}`);
    const sealed = encryptSecret(keyring, 'whsec_topsecret', 'wh_1');
    expect(sealed).toMatch(/^v1\.a\./);
    expect(sealed).not.toContain('topsecret');
    expect(decryptSecret(keyring, sealed, 'wh_1')).toBe('whsec_topsecret');
    expect(encryptSecret(keyring, 'x', 'wh_1')).not.toBe(encryptSecret(keyring, 'x', 'wh_1'));
  });

  it('is bound to its associated data and detects tampering', () => {
    const keyring = parseKeyring(key());
    const sealed = encryptSecret(keyring, 'secret', 'wh_1');
    expect(() => decryptSecret(keyring, sealed, 'wh_2')).toThrow(/failed authentication/);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => decryptSecret(keyring, parts.join('.'), 'wh_1')).toThrow(/failed authentication/);
    expect(() => decryptSecret(keyring, 'plain', 'wh_1')).toThrow(/not a v1/);
  });

  it('binds to the subscription and the field, keeping the bare id for signing secrets', () => {
    const keyring = parseKeyring(key());
    // Secrets stored before fields were told apart were bound to the bare id: they still open.
    const stored = encryptSecret(keyring, 'whsec_old', 'wh_1');
    expect(decryptSecret(keyring, stored, boundTo('wh_1', 'signing_secret'))).toBe('whsec_old');
    const headers = encryptSecret(keyring, '{"a":"b"}', boundTo('wh_1', 'custom_headers'));
    expect(() => decryptSecret(keyring, headers, boundTo('wh_1', 'signing_secret'))).toThrow(
      /failed authentication/,
    );
    expect(() => decryptSecret(keyring, stored, boundTo('wh_1', 'custom_headers'))).toThrow(
      /failed authentication/,
    );
    expect(() => decryptSecret(keyring, headers, boundTo('wh_2', 'custom_headers'))).toThrow(
      /failed authentication/,
    );
  });

  it('encrypts with the first key and decrypts with any, for rotation', () => {
    const [oldKey, newKey] = [key(), key()];
    const before = parseKeyring(`old:${oldKey}`);
    const sealed = encryptSecret(before, 'secret');
    const after = parseKeyring(`new:${newKey},old:${oldKey}`);
    expect(decryptSecret(after, sealed)).toBe('secret');
    expect(needsReencryption(after, sealed)).toBe(true);
    expect(needsReencryption(after, encryptSecret(after, 'secret'))).toBe(false);
    expect(() => decryptSecret(parseKeyring(`new:${newKey}`), sealed)).toThrow(/no key old/);
  });

  it.each([
    ['', /empty/],
    ['a:short', /32 bytes/],
    [`a:${key()},a:${key()}`, /twice/],
    [`bad id:${key()}`, /key id/],
    [`${key()},${key()}`, /<id>:<base64 key>/],
  ])('refuses the keyring %j naming the problem, not the key', (value, message) => {
    expect(() => parseKeyring(value)).toThrow(message);
  });

  it('uses the development key only in development, with a warning', () => {
    expect(keyringFromSettings(undefined, 'development').warnings[0]).toMatch(/insecure/);
    expect(() => keyringFromSettings(undefined, 'production')).toThrow(/required/);
  });
});
