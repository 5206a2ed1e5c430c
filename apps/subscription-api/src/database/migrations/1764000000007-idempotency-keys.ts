import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency keys (ADR 0020): per organisation and key, the request's fingerprint (a
 * hash), whether it is still running (with its holder's token and lease) or done, and
 * its answer, encrypted like signing secrets, since some answers carry one. Kept 24 hours
 * from the first request; purged by age, hence the index.
 */
export class IdempotencyKeys1764000000007 implements MigrationInterface {
  name = 'IdempotencyKeys1764000000007';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE idempotency_keys (
        organization_id  text NOT NULL,
        key              text NOT NULL,
        fingerprint      text NOT NULL,
        state            text NOT NULL CHECK (state IN ('running', 'done')),
        token            uuid,
        lease_until      timestamptz NOT NULL,
        answer           text,
        created_at       timestamptz NOT NULL,
        PRIMARY KEY (organization_id, key)
      )`);
    await db.query(`CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE idempotency_keys`);
  }
}
