import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What an operator needs to look after tenants and their keys: a key's own label and when
 * it was last used (to tell which key a client still holds before revoking one), and when
 * an organisation was deleted. A deleted organisation keeps its row, with no domains, so
 * that its revoked keys still name it and its id is never given again; the API's reads
 * pass it over. Adding nullable columns rewrites nothing.
 */
export class OrganizationLifecycle1764000000010 implements MigrationInterface {
  name = 'OrganizationLifecycle1764000000010';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `ALTER TABLE api_keys ADD COLUMN name text, ADD COLUMN last_used_at timestamptz`,
    );
    await db.query(`ALTER TABLE organizations ADD COLUMN deleted_at timestamptz`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE organizations DROP COLUMN deleted_at`);
    await db.query(`ALTER TABLE api_keys DROP COLUMN name, DROP COLUMN last_used_at`);
  }
}
