import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When an API key stops working by itself (null: when revoked), for keys handed to a
 * contractor or a script for a while. Adding a nullable column rewrites nothing.
 */
export class ApiKeyExpiry1764000000011 implements MigrationInterface {
  name = 'ApiKeyExpiry1764000000011';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE api_keys ADD COLUMN expires_at timestamptz`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE api_keys DROP COLUMN expires_at`);
  }
}
