import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The start of what an endpoint answered to an attempt that failed with a status (1 KiB
 * at most), which the customer reads in the delivery log. Null for the rest, and for the
 * attempts logged before: adding a nullable column rewrites nothing.
 */
export class AttemptResponseBody1764000000009 implements MigrationInterface {
  name = 'AttemptResponseBody1764000000009';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE delivery_attempts ADD COLUMN response_body text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE delivery_attempts DROP COLUMN response_body`);
  }
}
