import type { MigrationInterface, QueryRunner } from 'typeorm';

const INDEX = 'delivery_attempts_not_succeeded';

/**
 * The delivery log's attempts that did not succeed, per subscription in id order: what a
 * customer filters the log for (`?status=failed`), a small share of a healthy log, found
 * without reading the successes in between. Partial, so a success (almost every row)
 * writes no entry in it.
 *
 * Built concurrently, outside a transaction: the log may be large, and a plain build
 * would hold up the attempts consumer's inserts for as long. A build that failed half way
 * leaves an invalid index, dropped here before building again.
 */
export class AttemptsNotSucceeded1764000000008 implements MigrationInterface {
  name = 'AttemptsNotSucceeded1764000000008';
  transaction = false;

  async up(db: QueryRunner): Promise<void> {
    const [invalid] = (await db.query(
      `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE c.relname = $1 AND NOT i.indisvalid`,
      [INDEX],
    )) as unknown[];
    if (invalid) await db.query(`DROP INDEX CONCURRENTLY ${INDEX}`);
    await db.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX}
       ON delivery_attempts (subscription_id, attempt_id DESC) WHERE outcome <> 'succeeded'`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
  }
}
