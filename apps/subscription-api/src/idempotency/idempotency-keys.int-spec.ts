import { developmentKeyring, parseKeyring } from '@hookpost/domain';
import { randomBytes } from 'node:crypto';
import { createLogger } from '@hookpost/platform';
import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import { ApiError } from '../http/api-error.js';
import { IdempotencyKeys } from './idempotency-keys.js';

/** The keys' store against a real Postgres (a database of its own). */
let database: ScratchDatabase;
let dataSource: DataSource;
let keys: IdempotencyKeys;
const org = 'org_idempotent';

beforeAll(async () => {
  database = await scratchDatabase('idempotency');
  dataSource = createDataSource(database.url, 4);
  await dataSource.initialize();
  await migrate(dataSource);
  keys = new IdempotencyKeys(dataSource, developmentKeyring(), createLogger('test', 'silent'));
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

/** An operation that counts its runs and answers with the count. */
function counting() {
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    operation: () => Promise.resolve({ run: ++runs }),
  };
}

const error = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (thrown: unknown) => thrown as ApiError & { replayed?: boolean },
  );

describe('idempotency keys', () => {
  it('runs an operation once and gives its answer to every repeat', async () => {
    const op = counting();
    const first = await keys.run(org, 'k-once', 'f', op.operation);
    const again = await keys.run(org, 'k-once', 'f', op.operation);
    expect(first).toEqual({ answer: { run: 1 }, replayed: false });
    expect(again).toEqual({ answer: { run: 1 }, replayed: true });
    expect(op.runs).toBe(1);
  });

  it('refuses the key with another fingerprint, and while its first request runs', async () => {
    await keys.run(org, 'k-used', 'f1', () => Promise.resolve({}));
    expect(await error(keys.run(org, 'k-used', 'f2', () => Promise.resolve({})))).toMatchObject({
      status: 422,
      code: 'idempotency_key_reused',
    });
    let finish!: () => void;
    const running = keys.run(
      org,
      'k-running',
      'f',
      () => new Promise<Record<string, unknown>>((resolve) => (finish = () => resolve({ ok: 1 }))),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await error(keys.run(org, 'k-running', 'f', () => Promise.resolve({})))).toMatchObject({
      status: 409,
      code: 'idempotency_key_in_use',
    });
    finish();
    await running;
    expect(await keys.run(org, 'k-running', 'f', () => Promise.resolve({}))).toEqual({
      answer: { ok: 1 },
      replayed: true,
    });
  });

  it('frees the key after a failure that calls for a retry, and keeps one that does not', async () => {
    const op = counting();
    const busy = () => Promise.reject(new ApiError(429, 'rate_limited', 'too many'));
    const broken = () => Promise.reject(new Error('connection lost'));
    expect(await error(keys.run(org, 'k-retry', 'f', busy))).toMatchObject({ status: 429 });
    expect(await error(keys.run(org, 'k-retry', 'f', broken))).toMatchObject({
      message: 'connection lost',
    });
    expect(await keys.run(org, 'k-retry', 'f', op.operation)).toMatchObject({ replayed: false });

    const missing = () => Promise.reject(new ApiError(404, 'not_found', 'webhook not found'));
    const first = await error(keys.run(org, 'k-404', 'f', missing));
    const again = await error(keys.run(org, 'k-404', 'f', op.operation));
    expect(first).toMatchObject({ status: 404, code: 'not_found' });
    expect(first!.replayed).toBeUndefined();
    expect(again).toMatchObject({ status: 404, code: 'not_found', replayed: true });
    expect(op.runs).toBe(1);
  });

  it("keeps organisations' keys apart", async () => {
    const op = counting();
    await keys.run(org, 'k-shared', 'f', op.operation);
    expect(await keys.run('org_other', 'k-shared', 'g', op.operation)).toEqual({
      answer: { run: 2 },
      replayed: false,
    });
  });

  it('runs the request again once its holder has lost the lease, and a key again after a day', async () => {
    await dataSource.query(
      `INSERT INTO idempotency_keys (organization_id, key, fingerprint, state, token, lease_until, created_at)
       VALUES ($1, 'k-lapsed', 'f', 'running', gen_random_uuid(), now() - interval '1 s', now())`,
      [org],
    );
    expect(
      await error(keys.run(org, 'k-lapsed', 'other', () => Promise.resolve({}))),
    ).toMatchObject({
      code: 'idempotency_key_reused',
    });
    expect(await keys.run(org, 'k-lapsed', 'f', () => Promise.resolve({ again: true }))).toEqual({
      answer: { again: true },
      replayed: false,
    });

    await keys.run(org, 'k-old', 'f', () => Promise.resolve({ day: 1 }));
    await dataSource.query(
      `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'k-old'`,
    );
    expect(await keys.run(org, 'k-old', 'g', () => Promise.resolve({ day: 2 }))).toEqual({
      answer: { day: 2 },
      replayed: false,
    });
  });

  it('keeps answers encrypted, bound to their organisation and key', async () => {
    await keys.run(org, 'k-secret', 'f', () => Promise.resolve({ secret: 'whsec_plain' }));
    const [row] = (await dataSource.query(
      `SELECT answer FROM idempotency_keys WHERE organization_id = $1 AND key = 'k-secret'`,
      [org],
    )) as Array<{ answer: string }>;
    expect(row!.answer).toMatch(/^v1\./);
    expect(row!.answer).not.toContain('whsec_plain');
    // Moved under another key, it no longer decrypts.
    await keys.run(org, 'k-moved', 'f', () => Promise.resolve({}));
    await dataSource.query(`UPDATE idempotency_keys SET answer = $1 WHERE key = 'k-moved'`, [
      row!.answer,
    ]);
    expect(await error(keys.run(org, 'k-moved', 'f', () => Promise.resolve({})))).toBeDefined();
  });

  it('re-encrypts kept answers under the newest key, so that the old key can go', async () => {
    const key = () => randomBytes(32).toString('base64');
    const [oldKey, newKey] = [`old:${key()}`, `new:${key()}`];
    const logger = createLogger('test', 'silent');
    const before = new IdempotencyKeys(dataSource, parseKeyring(oldKey), logger);
    await before.run('org_rotating', 'k-rotated', 'f', () => Promise.resolve({ secret: 's1' }));
    const both = new IdempotencyKeys(dataSource, parseKeyring(`${newKey},${oldKey}`), logger);
    // The other tests' answers are under a key this keyring lacks: failed, and left.
    const first = await both.reencrypt();
    expect(first.reencrypted).toBe(1);
    expect(first.failed).toBeGreaterThan(0);
    expect(await both.reencrypt()).toEqual({ reencrypted: 0, failed: first.failed });
    const after = new IdempotencyKeys(dataSource, parseKeyring(newKey), logger);
    expect(await after.run('org_rotating', 'k-rotated', 'f', () => Promise.resolve({}))).toEqual({
      answer: { secret: 's1' },
      replayed: true,
    });
  });

  it('purges keys older than a day, and only those', async () => {
    await keys.run(org, 'k-fresh', 'f', () => Promise.resolve({}));
    await keys.run(org, 'k-stale-1', 'f', () => Promise.resolve({}));
    await keys.run(org, 'k-stale-2', 'f', () => Promise.resolve({}));
    await dataSource.query(
      `UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key LIKE 'k-stale-%'`,
    );
    expect(await keys.purge(1)).toBe(2);
    const left = (await dataSource.query(
      `SELECT key FROM idempotency_keys WHERE key IN ('k-fresh', 'k-stale-1', 'k-stale-2')`,
    )) as Array<{ key: string }>;
    expect(left.map((r) => r.key)).toEqual(['k-fresh']);
  });
});
