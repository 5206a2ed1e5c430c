import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The canonical events themselves, for `GET /v1/messages/{id}/events`, replay and manual
 * retries. `seq` orders them as they arrived (event ids are not time-ordered).
 */
export class EventLog1764000000003 implements MigrationInterface {
  name = 'EventLog1764000000003';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE mail_events (
        seq              bigserial UNIQUE,
        event_id         text PRIMARY KEY,
        organization_id  text NOT NULL,
        message_id       text,
        type             text NOT NULL,
        occurred_at      timestamptz NOT NULL,
        event            jsonb NOT NULL
      )`);
    await db.query(
      `CREATE INDEX mail_events_message ON mail_events (organization_id, message_id, seq)`,
    );
    await db.query(`CREATE INDEX mail_events_time ON mail_events (organization_id, occurred_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE mail_events`);
  }
}
