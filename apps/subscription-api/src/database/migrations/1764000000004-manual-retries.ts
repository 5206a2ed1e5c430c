import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The last attempt number handed to a retry by hand, per delivery: the attempt log learns
 * of an attempt only once it is made, so two retries close together would otherwise
 * both be numbered after the same last attempt.
 */
export class ManualRetries1764000000004 implements MigrationInterface {
  name = 'ManualRetries1764000000004';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE manual_retries (
        delivery_id   text PRIMARY KEY,
        attempt       integer NOT NULL,
        requested_at  timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX manual_retries_requested_at ON manual_retries (requested_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE manual_retries`);
  }
}
