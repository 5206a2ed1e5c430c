import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The delivery log (one row per attempt) and the consecutive-failure count per subscription. */
export class DeliveryAttempts1764000000001 implements MigrationInterface {
  name = 'DeliveryAttempts1764000000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE delivery_attempts (
        attempt_id       text PRIMARY KEY,
        delivery_id      text NOT NULL,
        subscription_id  text NOT NULL,
        organization_id  text NOT NULL,
        event_id         text NOT NULL,
        event_type       text NOT NULL,
        attempt          integer NOT NULL,
        outcome          text NOT NULL,
        http_status      integer,
        duration_ms      integer NOT NULL,
        error            text,
        next_retry_at    timestamptz,
        attempted_at     timestamptz NOT NULL
      )`);
    // Logs are read per subscription, newest first (attempt ids are time-ordered).
    await db.query(
      `CREATE INDEX delivery_attempts_subscription ON delivery_attempts (subscription_id, attempt_id DESC)`,
    );
    await db.query(`CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id)`);
    await db.query(
      `CREATE INDEX delivery_attempts_attempted_at ON delivery_attempts (attempted_at)`,
    );
    await db.query(`
      CREATE TABLE subscription_health (
        subscription_id       text PRIMARY KEY,
        consecutive_failures  integer NOT NULL DEFAULT 0,
        last_attempt_at       timestamptz NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE subscription_health`);
    await db.query(`DROP TABLE delivery_attempts`);
  }
}
