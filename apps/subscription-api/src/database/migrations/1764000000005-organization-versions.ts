import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A version per organisation, raised by every change in the UPDATE itself: concurrent
 * changes take it in the order they commit, which `updated_at` (the transaction's start,
 * or the API host's clock at creation) does not follow. Event-ingest keeps the
 * organisation event with the highest.
 */
export class OrganizationVersions1764000000005 implements MigrationInterface {
  name = 'OrganizationVersions1764000000005';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE organizations ADD COLUMN version integer NOT NULL DEFAULT 1`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE organizations DROP COLUMN version`);
  }
}
