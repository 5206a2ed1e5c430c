import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundTo, decryptSecret, encryptSecret, parseKeyring } from '../secrets/keyring.js';
import { headersNeedSealing, openHeaders, sealHeaders } from './sealed-headers.js';

const key = () => randomBytes(32).toString('base64');
const headers = { Authorization: 'Bearer tok_9f2c', 'X-Team': 'mail' };

describe('sealed custom headers', () => {
  it('seals names and values as one ciphertext, and opens them as they were set', () => {
    const keyring = parseKeyring(`k1:${key()}`);
    const sealed = sealHeaders(keyring, 'wh_1', headers);
    expect(sealed).toMatch(/^v1\.k1\./);
    for (const word of ['Authorization', 'tok_9f2c', 'X-Team', 'mail'])
      expect(sealed).not.toContain(word);
    expect(openHeaders(keyring, 'wh_1', sealed)).toEqual(headers);
    expect(sealHeaders(keyring, 'wh_1', headers)).not.toBe(sealed);
  });

  it('keeps a header named __proto__ as an own header', () => {
    const keyring = parseKeyring(key());
    const odd = Object.fromEntries([['__proto__', 'x']]) as Record<string, string>;
    const opened = openHeaders(keyring, 'wh_1', sealHeaders(keyring, 'wh_1', odd));
    expect(Object.entries(opened)).toEqual([['__proto__', 'x']]);
  });

  it('opens only for its own subscription, and never as a signing secret or from one', () => {
    const keyring = parseKeyring(key());
    const sealed = sealHeaders(keyring, 'wh_1', headers) as string;
    expect(() => openHeaders(keyring, 'wh_2', sealed)).toThrow(/failed authentication/);
    expect(() => decryptSecret(keyring, sealed, boundTo('wh_1', 'signing_secret'))).toThrow(
      /failed authentication/,
    );
    const secret = encryptSecret(
      keyring,
      JSON.stringify(headers),
      boundTo('wh_1', 'signing_secret'),
    );
    expect(() => openHeaders(keyring, 'wh_1', secret)).toThrow(/failed authentication/);
  });

  it('takes a map in the clear as it is, and leaves no headers in the clear', () => {
    const keyring = parseKeyring(key());
    expect(openHeaders(keyring, 'wh_1', headers)).toEqual(headers);
    expect(sealHeaders(keyring, 'wh_1', {})).toEqual({});
    expect(openHeaders(keyring, 'wh_1', {})).toEqual({});
  });

  it('needs sealing when in the clear or under an older key', () => {
    const [oldKey, newKey] = [key(), key()];
    const before = parseKeyring(`old:${oldKey}`);
    const after = parseKeyring(`new:${newKey},old:${oldKey}`);
    expect(headersNeedSealing(after, headers)).toBe(true);
    expect(headersNeedSealing(after, {})).toBe(false);
    const old = sealHeaders(before, 'wh_1', headers);
    expect(headersNeedSealing(after, old)).toBe(true);
    expect(openHeaders(after, 'wh_1', old)).toEqual(headers);
    expect(headersNeedSealing(after, sealHeaders(after, 'wh_1', headers))).toBe(false);
  });
});
