import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import { ApiError } from '../http/api-error.js';
import { ReplayLocks } from './replay-locks.js';

/** One replay of a webhook at a time, across replicas: two data sources, as two replicas. */
let database: ScratchDatabase;
let replicas: DataSource[] = [];

beforeAll(async () => {
  database = await scratchDatabase('replay_locks');
  replicas = [createDataSource(database.url, 3), createDataSource(database.url, 3)];
  for (const replica of replicas) await replica.initialize();
  await migrate(replicas[0]!);
});

afterAll(async () => {
  for (const replica of replicas) await replica.destroy();
  await database?.drop();
});

describe('replay locks', () => {
  it('refuses a second replay of a webhook while one runs, on this replica or another', async () => {
    const [here, there] = replicas.map((replica) => new ReplayLocks(replica)) as [
      ReplayLocks,
      ReplayLocks,
    ];
    let finish!: (queued: number) => void;
    const first = here.hold('wh_1', () => new Promise<number>((resolve) => (finish = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const locks of [here, there]) {
      const second = locks.hold('wh_1', () => Promise.resolve(0));
      await expect(second).rejects.toBeInstanceOf(ApiError);
      await expect(second).rejects.toMatchObject({ status: 409, code: 'replay_in_progress' });
    }
    // Another webhook's replay goes meanwhile.
    await expect(there.hold('wh_2', () => Promise.resolve(1))).resolves.toBe(1);
    finish(42);
    await expect(first).resolves.toBe(42);
    await expect(there.hold('wh_1', () => Promise.resolve(7))).resolves.toBe(7);
  });

  it('runs the replay on the connection that holds the lock, and frees it when the replay fails', async () => {
    const locks = new ReplayLocks(replicas[0]!);
    const holder = await locks.hold('wh_3', async (db) => {
      const [row] = (await db.query(
        `SELECT count(*)::int AS held FROM pg_locks
         WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted`,
      )) as Array<{ held: number }>;
      return row!.held;
    });
    expect(holder).toBe(1);
    await expect(locks.hold('wh_3', () => Promise.reject(new Error('Kafka away')))).rejects.toThrow(
      'Kafka away',
    );
    await expect(
      new ReplayLocks(replicas[1]!).hold('wh_3', () => Promise.resolve(1)),
    ).resolves.toBe(1);
    const [{ left }] = (await replicas[0]!.query(
      `SELECT count(*)::int AS left FROM pg_locks WHERE locktype = 'advisory'`,
    )) as [{ left: number }];
    expect(left).toBe(0);
  });
});
