import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

/**
 * Authenticated encryption of subscription secrets (AES-256-GCM), at rest and inside
 * Kafka messages. A keyring holds several keys: the first encrypts, any decrypts, so the
 * key can be rotated: add a new key in front, re-encrypt, then drop the old one.
 *
 * Ciphertext: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts). The optional
 * associated data (`boundTo`) binds a ciphertext to its subscription and to what it
 * holds: moved to another subscription, or to another field, it fails.
 */
export interface Keyring {
  /** KeyObjects, not Buffers: a cipher made from a Buffer key first builds one, every time. */
  readonly keys: ReadonlyMap<string, KeyObject>;
  readonly currentKeyId: string;
}

export class SecretCryptoError extends Error {
  constructor(
    readonly code: 'invalid_keyring' | 'unknown_key' | 'malformed_ciphertext' | 'decryption_failed',
    message: string,
  ) {
    super(message);
    this.name = 'SecretCryptoError';
  }
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

function decodeKey(base64: string, where: string): KeyObject {
  const key = Buffer.from(base64, 'base64');
  if (
    key.length !== 32 ||
    key.toString('base64').replace(/=+$/, '') !== base64.replace(/=+$/, '')
  ) {
    throw new SecretCryptoError(
      'invalid_keyring',
      `${where}: expected the base64 of exactly 32 bytes`,
    );
  }
  return createSecretKey(key);
}

/** Parses `id1:<base64 32 bytes>,id2:<...>` (or one bare base64 key, id `k0`). Never echoes key material. */
export function parseKeyring(value: string): Keyring {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new SecretCryptoError('invalid_keyring', 'the keyring is empty');
  const keys = new Map<string, KeyObject>();
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const [id, material] =
      colon === -1 && entries.length === 1
        ? ['k0', entry]
        : [entry.slice(0, colon), entry.slice(colon + 1)];
    if (colon === -1 && entries.length > 1) {
      throw new SecretCryptoError(
        'invalid_keyring',
        `entry ${index + 1}: expected <id>:<base64 key>`,
      );
    }
    if (!KEY_ID.test(id))
      throw new SecretCryptoError(
        'invalid_keyring',
        `entry ${index + 1}: key id must match [A-Za-z0-9_-]{1,32}`,
      );
    if (keys.has(id))
      throw new SecretCryptoError(
        'invalid_keyring',
        `entry ${index + 1}: key id ${id} appears twice`,
      );
    keys.set(id, decodeKey(material, `key ${id}`));
  });
  return { keys, currentKeyId: [...keys.keys()][0]! };
}

/** What is wrong with a SECRET_ENCRYPTION_KEY value, if anything (for the config check). */
export function keyringProblem(value: string): string | undefined {
  try {
    parseKeyring(value);
    return undefined;
  } catch (error) {
    if (error instanceof SecretCryptoError) return error.message;
    throw error;
  }
}

/**
 * For local development only, when no key is configured: a fixed, publicly known key.
 * It keeps `npm start` working out of the box; services refuse it outside development.
 */
export function developmentKeyring(): Keyring {
  const key = createHash('sha256').update('hookpost insecure development key').digest();
  return { keys: new Map([['dev', createSecretKey(key)]]), currentKeyId: 'dev' };
}

/** What a subscription's ciphertext holds. */
export type SealedField = 'signing_secret' | 'custom_headers';

/**
 * The associated data of a subscription's ciphertext: its id and the field it belongs to,
 * so that a header ciphertext copied over a secret (or back) fails to decrypt. Signing
 * secrets were bound to the bare id before anything else was encrypted, and keep that
 * binding so that every stored secret still decrypts; other fields prefix their name and
 * a colon, which no subscription id holds (`wh_` and base32), so no two fields share it.
 */
export function boundTo(subscriptionId: string, field: SealedField): string {
  return field === 'signing_secret' ? subscriptionId : `${field}:${subscriptionId}`;
}

export function encryptSecret(
  keyring: Keyring,
  plaintext: string,
  associatedData?: string,
): string {
  const key = keyring.keys.get(keyring.currentKeyId)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (associatedData !== undefined) cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', keyring.currentKeyId, iv, ciphertext, cipher.getAuthTag()]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

export function decryptSecret(keyring: Keyring, value: string, associatedData?: string): string {
  const parts = value.split('.');
  if (parts.length !== 5 || parts[0] !== 'v1') {
    throw new SecretCryptoError('malformed_ciphertext', 'not a v1 encrypted secret');
  }
  const [, keyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  const key = keyring.keys.get(keyId);
  if (!key) throw new SecretCryptoError('unknown_key', `no key ${keyId} in the keyring`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    if (associatedData !== undefined) decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertext, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new SecretCryptoError(
      'decryption_failed',
      `secret encrypted with key ${keyId} failed authentication`,
    );
  }
}

/** True when a ciphertext is not under the current key (for the re-encryption command). */
export function needsReencryption(keyring: Keyring, value: string): boolean {
  return value.split('.')[1] !== keyring.currentKeyId;
}

/** The keyring a service uses: the configured one, or in development the fixed one with a warning. */
export function keyringFromSettings(
  value: string | undefined,
  nodeEnv: string,
): { keyring: Keyring; warnings: string[] } {
  if (value) return { keyring: parseKeyring(value), warnings: [] };
  if (nodeEnv !== 'development') {
    throw new SecretCryptoError(
      'invalid_keyring',
      'SECRET_ENCRYPTION_KEY is required outside development',
    );
  }
  return {
    keyring: developmentKeyring(),
    warnings: [
      'SECRET_ENCRYPTION_KEY is unset: using the insecure development key; never do this in production',
    ],
  };
}
