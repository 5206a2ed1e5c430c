import { isId } from '@hookpost/contracts';
import {
  boundTo,
  decryptSecret,
  encryptSecret,
  headersNeedSealing,
  keyringFromSettings,
  needsReencryption,
  openHeaders,
  sealHeaders,
  type Subscription,
} from '@hookpost/domain';
import { createLogger, loadConfigOrExit } from '@hookpost/platform';
import { z } from 'zod';
import { createDataSource } from './database/data-source.js';
import { executeCommand } from './event-store/subscription-store.js';
import { IdempotencyKeys } from './idempotency/idempotency-keys.js';

/**
 * Re-encrypts every stored signing secret, custom headers and kept idempotent answer
 * (ADR 0020) under the newest key of
 * SECRET_ENCRYPTION_KEY: `node apps/subscription-api/dist/reencrypt-secrets.js`
 * (`npm run reencrypt-secrets` in a checkout). Run it after putting a new key first in the
 * list (old keys still after it). Each subscription with any secret (current or replaced)
 * or its headers under an older key, or headers still in the clear (ADR 0019), gets a
 * `subscription.secrets_reencrypted` event, through the store like any change, so the
 * read model, the state topic and the deliverer follow; the running API's outbox relay
 * publishes it. When it reports nothing left, the old keys can be removed. Secrets and
 * headers are decrypted only in this process's memory and never logged.
 */
const config = loadConfigOrExit(
  'subscription-api-reencrypt',
  z.object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    SECRET_ENCRYPTION_KEY: z.string().min(1, 'is required: the keyring to re-encrypt under'),
    NODE_ENV: z.string().default('production'),
    LOG_LEVEL: z.string().default('info'),
  }),
);
const logger = createLogger('subscription-api-reencrypt', config.LOG_LEVEL);
const { keyring } = keyringFromSettings(config.SECRET_ENCRYPTION_KEY, config.NODE_ENV);
const dataSource = createDataSource(config.DATABASE_URL, 1);
await dataSource.initialize();

const again = (subscription: Subscription, ciphertext: string) => {
  const aad = boundTo(subscription.id, 'signing_secret');
  return encryptSecret(keyring, decryptSecret(keyring, ciphertext, aad), aad);
};

async function reencrypt(id: string): Promise<boolean> {
  // Read afresh on each try: a concurrent change (409/412) is simply tried again.
  for (let attempt = 1; ; attempt++) {
    const [row] = (await dataSource.query(
      'SELECT state FROM subscriptions WHERE id = $1 AND NOT deleted',
      [id],
    )) as Array<{ state: Subscription }>;
    const state = row?.state;
    if (!state) return false;
    const previous = state.previousSecret?.secret ?? null;
    const older = (state.olderSecrets ?? []).map((s) => s.secret);
    const all = [state.secret, ...(previous ? [previous] : []), ...older];
    const sealed = headersNeedSealing(keyring, state.headers)
      ? sealHeaders(keyring, id, openHeaders(keyring, id, state.headers))
      : undefined;
    // Headers that need sealing are never empty: sealed, they are a ciphertext.
    const headers = typeof sealed === 'string' ? sealed : undefined;
    if (!headers && !all.some((ciphertext) => needsReencryption(keyring, ciphertext))) return false;
    try {
      await executeCommand(
        dataSource,
        id,
        {
          type: 'reencrypt_secrets',
          secret: again(state, state.secret),
          previousSecret: previous && again(state, previous),
          olderSecrets: older.map((ciphertext) => again(state, ciphertext)),
          ...(headers && { headers }),
        },
        {
          organizationId: state.organizationId,
          expectedVersion: state.version,
          actor: { kind: 'operator' },
        },
      );
      return true;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if ((status === 409 || status === 412) && attempt < 5) continue;
      throw error;
    }
  }
}

let checked = 0;
let reencrypted = 0;
const failed: string[] = [];
try {
  let after = '';
  for (;;) {
    const ids = (
      (await dataSource.query(
        'SELECT id FROM subscriptions WHERE id > $1 AND NOT deleted ORDER BY id LIMIT 500',
        [after],
      )) as Array<{ id: string }>
    ).map((r) => r.id);
    if (ids.length === 0) break;
    for (const id of ids) {
      checked++;
      if (!isId('webhook', id)) continue;
      try {
        if (await reencrypt(id)) reencrypted++;
      } catch (error) {
        failed.push(id);
        logger.error(
          { subscriptionId: id, reason: (error as Error).message },
          'could not re-encrypt',
        );
      }
    }
    after = ids[ids.length - 1]!;
  }
  // The API's answers kept for idempotency keys, some of which hold a signing secret.
  const answers = await new IdempotencyKeys(dataSource, keyring, logger).reencrypt();
  logger.info(
    {
      checked,
      reencrypted,
      failed: failed.length,
      answersReencrypted: answers.reencrypted,
      answersUnreadable: answers.failed,
      key: keyring.currentKeyId,
    },
    failed.length === 0
      ? 'secrets re-encrypted under the newest key'
      : 'some secrets could not be re-encrypted',
  );
} finally {
  await dataSource.destroy();
}
if (failed.length > 0) process.exitCode = 1;
