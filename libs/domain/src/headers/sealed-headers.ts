import type { StoredHeaders } from '@hookpost/contracts';
import {
  boundTo,
  decryptSecret,
  encryptSecret,
  needsReencryption,
  type Keyring,
} from '../secrets/keyring.js';

/**
 * A subscription's custom headers as stored and carried: one ciphertext of the whole map,
 * bound to the subscription and to its purpose (ADR 0019). One ciphertext, not one per
 * value: the names can tell as much as the values (`X-Acme-Prod-Key`), a value cannot be
 * moved under another name, and a delivery decrypts once, not once per header.
 */

/** Headers to store: `{}` stays `{}`, which has nothing to hide and reads the same to any reader. */
export function sealHeaders(
  keyring: Keyring,
  subscriptionId: string,
  headers: Record<string, string>,
): StoredHeaders {
  if (Object.keys(headers).length === 0) return {};
  return encryptSecret(keyring, JSON.stringify(headers), boundTo(subscriptionId, 'custom_headers'));
}

/**
 * The headers as the customer set them. A map is taken as it is: headers written before
 * they were encrypted, which the next update or re-encryption seals.
 */
export function openHeaders(
  keyring: Keyring,
  subscriptionId: string,
  stored: StoredHeaders,
): Record<string, string> {
  if (typeof stored !== 'string') return stored;
  return JSON.parse(
    decryptSecret(keyring, stored, boundTo(subscriptionId, 'custom_headers')),
  ) as Record<string, string>;
}

/** Whether headers are still in the clear, or encrypted under an older key. */
export function headersNeedSealing(keyring: Keyring, stored: StoredHeaders): boolean {
  return typeof stored === 'string'
    ? needsReencryption(keyring, stored)
    : Object.keys(stored).length > 0;
}
