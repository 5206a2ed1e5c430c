import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ApiError } from '../http/api-error.js';
import { countRefusal } from '../rate-limits/rate-limits.js';

/**
 * The first key of the replays' advisory locks; the second is the webhook id's hash. The
 * two-key form shares no keys with the one-key locks used elsewhere (the outbox relay's).
 */
const REPLAY_LOCKS = 0x48505250; // "HPRP"

/**
 * One replay of a webhook at a time, across every replica: a session advisory lock in
 * Postgres, held by the connection the replay runs its queries on, so that a replay takes
 * one connection, not two, and a replica that dies mid-way lets go of it with its
 * connection. Two webhooks whose ids hash alike (one chance in four billion) also take
 * turns.
 */
@Injectable()
export class ReplayLocks {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Runs `replay` with the webhook's lock and the connection that holds it; while another
   * holds it, answers 409 `replay_in_progress` (not 429: waiting some seconds does not
   * help, its end does).
   */
  async hold<T>(webhookId: string, replay: (db: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
        [REPLAY_LOCKS, webhookId],
      )) as [{ locked: boolean }];
      if (!locked) {
        countRefusal('replay_in_progress');
        throw new ApiError(
          409,
          'replay_in_progress',
          'a replay of this webhook is still queuing its deliveries; replay again once it has answered',
        );
      }
      try {
        return await replay(runner.manager);
      } finally {
        // Should this fail, the connection is broken, and the lock goes with it.
        await runner
          .query('SELECT pg_advisory_unlock($1, hashtext($2))', [REPLAY_LOCKS, webhookId])
          .catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }
}
