import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { BoundedCache } from '../caching/bounded-cache.js';

/**
 * Webhook signatures. Standard Webhooks: `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>`,
 * keyed by the base64 part of a `whsec_` secret, else by the secret's UTF-8 bytes; one
 * signature per secret, space-separated, so receivers verify during a rotation with
 * either the old or the new secret. Plus the simple scheme of seed 002:
 * `sha256=<hex HMAC-SHA256(body)>` keyed by the secret string as given.
 */
const WHSEC_PREFIX = 'whsec_';

export function generateSecret(): string {
  return WHSEC_PREFIX + randomBytes(32).toString('base64');
}

/** Base64 as Standard Webhooks verifiers decode it: the standard alphabet, padded. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The shortest key a caller's `whsec_` secret may decode to (SPEC: 16 characters given). */
const MIN_KEY_BYTES = 16;

/**
 * Why a caller's own secret cannot sign, or undefined. A `whsec_` secret's key is its
 * base64 part, which Node would decode leniently, skipping what is not base64: the
 * receivers' verifiers refuse such a secret, and `whsec_!!!!…` would sign with an empty
 * key that anyone can forge.
 */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(WHSEC_PREFIX)) return undefined;
  const encoded = secret.slice(WHSEC_PREFIX.length);
  if (!STRICT_BASE64.test(encoded))
    return 'after whsec_ must come base64 (A-Z, a-z, 0-9, + and /, padded with =), as Standard Webhooks verifiers decode it';
  if (Buffer.from(encoded, 'base64').length < MIN_KEY_BYTES)
    return `after whsec_ must come the base64 of at least ${MIN_KEY_BYTES} bytes`;
  return undefined;
}

/** The HMAC key of a secret for Standard Webhooks. */
export function standardWebhookKey(secret: string): Buffer {
  return secret.startsWith(WHSEC_PREFIX)
    ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/**
 * The keys of recently used secrets, as KeyObjects: an HMAC keyed by a Buffer builds one
 * first, which costs four times the HMAC of a webhook body (Node 24); so does one keyed by
 * a string. Bounded, and held
 * in memory only, as the secrets themselves are while a webhook is signed.
 */
const hmacKeys = { standard: new BoundedCache<KeyObject>(), utf8: new BoundedCache<KeyObject>() };

/** The key of `secret` for Standard Webhooks, or its UTF-8 bytes as given (seed 002). */
function hmacKey(secret: string, scheme: keyof typeof hmacKeys): KeyObject {
  return hmacKeys[scheme].get(secret, () =>
    createSecretKey(
      scheme === 'standard' ? standardWebhookKey(secret) : Buffer.from(secret, 'utf8'),
    ),
  );
}

export interface StandardSignatureInput {
  id: string;
  /** Seconds since the epoch. */
  timestamp: number;
  body: string;
  /** The current secret first; during a rotation also the previous one. */
  secrets: readonly string[];
}

export function signStandardWebhook({
  id,
  timestamp,
  body,
  secrets,
}: StandardSignatureInput): string {
  const content = `${id}.${timestamp}.${body}`;
  return secrets
    .map(
      (secret) =>
        `v1,${createHmac('sha256', hmacKey(secret, 'standard')).update(content).digest('base64')}`,
    )
    .join(' ');
}

export function signBodyHex(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', hmacKey(secret, 'utf8')).update(body).digest('hex')}`;
}
