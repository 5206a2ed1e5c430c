import { describe, expect, it } from 'vitest';
import { parseIdempotencyKey, requestFingerprint } from './idempotency-keys.js';

describe('idempotency keys', () => {
  it('takes keys of 1 to 255 printable ASCII characters, and no header as no key', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    for (const key of [
      'a',
      '0b5a1c7e-3f4d-4e8a-9c2b-7d6e5f4a3b2c',
      'order:42/retry#1',
      'x'.repeat(255),
    ])
      expect(parseIdempotencyKey(key)).toBe(key);
    for (const key of ['', 'has space', 'tab\there', 'é', 'x'.repeat(256)])
      expect(() => parseIdempotencyKey(key)).toThrow(
        expect.objectContaining({ status: 400, code: 'invalid_idempotency_key' }),
      );
  });

  it('tells requests apart by operation and input, and only by them', () => {
    const create = requestFingerprint('POST /v1/webhooks', { url: 'https://a.example/' });
    expect(requestFingerprint('POST /v1/webhooks', { url: 'https://a.example/' })).toBe(create);
    expect(requestFingerprint('POST /v1/webhooks', { url: 'https://b.example/' })).not.toBe(create);
    expect(requestFingerprint('grpc CreateWebhook', { url: 'https://a.example/' })).not.toBe(
      create,
    );
    expect(requestFingerprint('POST /v1/webhooks', undefined)).toBe(
      requestFingerprint('POST /v1/webhooks', null),
    );
  });
});
