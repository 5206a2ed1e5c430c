import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, secretProblem, signBodyHex, signStandardWebhook } from './signing.js';

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

describe("a caller's own secret", () => {
  it('is taken as given when it is not whsec_', () => {
    expect(secretProblem('a-customer-chosen-secret')).toBeUndefined();
    expect(secretProblem('whsec-not-the-prefix!!')).toBeUndefined();
  });

  it('is taken as whsec_ with a strict base64 key of 16 bytes or more, which verifies', () => {
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    expect(secretProblem(secret)).toBeUndefined();
    expect(secretProblem(generateSecret())).toBeUndefined();
    const now = Math.floor(Date.now() / 1000);
    const signature = signStandardWebhook({ id, timestamp: now, body, secrets: [secret] });
    expect(new Webhook(secret).verify(body, headers(signature, now))).toEqual(JSON.parse(body));
  });

  it('is refused as whsec_ unless its key is base64 as every verifier decodes it', () => {
    // What Node would decode by skipping characters, and the official verifier refuses.
    for (const secret of ['whsec_!!!!!!!!!!!!!!!!', 'whsec_hello_world_2024_abc']) {
      expect(secretProblem(secret), secret).toMatch(/^after whsec_ must come base64/);
      expect(() => new Webhook(secret), secret).toThrow();
    }
    // Python's verifier (base64.b64decode) refuses the first, and reads the second as
    // another key than Node does.
    for (const secret of [
      'whsec_QUJDREVGR0gxMjM0NTY3OA', // unpadded
      'whsec_QUJDREVGR0gx-_M0NTY3OA==', // the URL-safe alphabet
    ]) {
      expect(secretProblem(secret), secret).toMatch(/^after whsec_ must come base64/);
    }
  });

  it('is refused as whsec_ with a key shorter than 16 bytes', () => {
    expect(secretProblem('whsec_QUJDREVGR0g=')).toBe(
      'after whsec_ must come the base64 of at least 16 bytes',
    );
  });
});
