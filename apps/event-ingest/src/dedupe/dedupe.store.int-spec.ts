import { Readiness } from '@hookpost/platform';
import { REPO_ROOT, scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestConfig } from '../config.js';
import { DedupeStore, type Sighting } from './dedupe.store.js';

/** The dedupe records against a real Postgres, in a database of their own. */
let database: ScratchDatabase;
let store: DedupeStore;

beforeAll(async () => {
  database = await scratchDatabase('dedupe');
  // The schema is subscription-api's, migrated as the deployment migrates it.
  const migrate = spawnSync(
    process.execPath,
    [`${REPO_ROOT}apps/subscription-api/dist/migrate.js`],
    { env: { ...process.env, DATABASE_URL: database.url }, encoding: 'utf8' },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  const config = {
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: 2,
    DEDUPE_WINDOW: 72 * 3_600_000,
  } as IngestConfig;
  store = new DedupeStore(config, pino({ level: 'silent' }), new Readiness());
});

afterAll(async () => {
  await store?.onApplicationShutdown();
  await database?.drop();
});

const at = (eventId: string, partition: number, offset: number): Sighting => ({
  eventId,
  topic: 'mail-events',
  partition,
  offset: String(offset),
});
const dropped = async (sightings: Sighting[]) => [...(await store.duplicates(sightings))].sort();

describe('DedupeStore', () => {
  it('passes the first sighting of an id, drops a copy, and passes the first again when it is read again', async () => {
    expect(await dropped([at('evt_a', 0, 10)])).toEqual([]);
    expect(await dropped([at('evt_a', 1, 50)])).toEqual([0]);
    expect(await dropped([at('evt_a', 0, 10)])).toEqual([]);
  });

  it('drops the later of two sightings of a new id in one batch', async () => {
    expect(await dropped([at('evt_b', 2, 7), at('evt_b', 0, 11), at('evt_b', 2, 7)])).toEqual([
      1, 2,
    ]);
  });

  it('passes the original read again beside a copy that comes before it in the batch', async () => {
    // The original was recorded, then its output was lost (a failed produce, a crash): it
    // is read again, now after a copy that arrived on another partition meanwhile.
    expect(await dropped([at('evt_c', 0, 12)])).toEqual([]);
    expect(await dropped([at('evt_c', 1, 51), at('evt_c', 0, 12)])).toEqual([0]);
  });

  it('judges concurrent batches, joined in one statement, the same way', async () => {
    const [copy, original] = await Promise.all([
      store.duplicates([at('evt_d', 1, 52)]),
      store.duplicates([at('evt_d', 0, 13)]),
    ]);
    // Whichever was recorded first goes on; exactly one of the two.
    expect(copy.size + original.size).toBe(1);
    expect(await dropped([at('evt_d', 1, 52), at('evt_d', 0, 13)])).toEqual(copy.size ? [0] : [1]);
  });
});
