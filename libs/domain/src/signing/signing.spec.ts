import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, signBodyHex, signStandardWebhook } from './signing.js';

const body = JSON.stringify({
  id: 'evt_1',
  type: 'message.delivered',
  data: { to: 'ann@example.org' },
});
const id = 'del_01JD0000000000000000000000';

function headers(signature: string, timestamp: number) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
}

describe('Standard Webhooks signatures', () => {
  const now = Math.floor(Date.now() / 1000);

  it('are accepted by the official verifier for a generated whsec_ secret', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const signature = signStandardWebhook({ id, timestamp: now, body, secrets: [secret] });
    expect(new Webhook(secret).verify(body, headers(signature, now))).toEqual(JSON.parse(body));
  });

  it('use the raw UTF-8 bytes of a secret that is not whsec_', () => {
    const secret = 'a-customer-chosen-secret';
    const signature = signStandardWebhook({ id, timestamp: now, body, secrets: [secret] });
    expect(new Webhook(secret, { format: 'raw' }).verify(body, headers(signature, now))).toEqual(
      JSON.parse(body),
    );
  });

  it('carry one signature per secret during a rotation, each verifying alone', () => {
    const [current, previous] = [generateSecret(), generateSecret()];
    const signature = signStandardWebhook({
      id,
      timestamp: now,
      body,
      secrets: [current, previous],
    });
    expect(signature.split(' ')).toHaveLength(2);
    expect(() => new Webhook(current).verify(body, headers(signature, now))).not.toThrow();
    expect(() => new Webhook(previous).verify(body, headers(signature, now))).not.toThrow();
    expect(() => new Webhook(generateSecret()).verify(body, headers(signature, now))).toThrow();
  });

  it('fail verification when the body or the timestamp changes', () => {
    const secret = generateSecret();
    const signature = signStandardWebhook({ id, timestamp: now, body, secrets: [secret] });
    expect(() => new Webhook(secret).verify(`${body} `, headers(signature, now))).toThrow();
    expect(() => new Webhook(secret).verify(body, headers(signature, now + 1))).toThrow();
  });
});

describe('X-Webhook-Signature (seed 002)', () => {
  it('is the hex HMAC of the body keyed by the secret string', () => {
    const secret = generateSecret();
    const expected = createHmac('sha256', secret).update(body).digest('hex');
    expect(signBodyHex(body, secret)).toBe(`sha256=${expected}`);
  });
});
