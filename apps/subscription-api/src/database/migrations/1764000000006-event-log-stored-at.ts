import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When each event reached the event log, which its retention counts from: an event that
 * arrives long after it occurred (a backlog worked off, a platform's own replay) must
 * still be retried by hand and shown for a while. Purged by it, a chunk at a time.
 *
 * A BRIN index: rows arrive in `stored_at` order and leave from the oldest end, so a
 * summary per block range finds them, and costs the event log's inserts, on the delivery
 * path, next to nothing (a B-tree would add a fifth index entry to every row).
 * Rows already there count as stored now.
 */
export class EventLogStoredAt1764000000006 implements MigrationInterface {
  name = 'EventLogStoredAt1764000000006';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `ALTER TABLE mail_events ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now()`,
    );
    await db.query(`CREATE INDEX mail_events_stored_at ON mail_events USING brin (stored_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX mail_events_stored_at`);
    await db.query(`ALTER TABLE mail_events DROP COLUMN stored_at`);
  }
}
