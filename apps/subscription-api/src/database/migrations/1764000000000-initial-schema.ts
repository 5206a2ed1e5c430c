import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event store (append-only, one version sequence per subscription), the read
 * models projected from it, organisations and API keys, and the outbox that carries
 * changes to Kafka.
 */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE organizations (
        id          text PRIMARY KEY,
        name        text NOT NULL,
        domains     text[] NOT NULL DEFAULT '{}',
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
      )`);
    await db.query(`
      CREATE TABLE api_keys (
        id               text PRIMARY KEY,
        organization_id  text NOT NULL REFERENCES organizations (id),
        key_hash         bytea NOT NULL UNIQUE,
        key_prefix       text NOT NULL,
        scope            jsonb NOT NULL DEFAULT '{}',
        created_at       timestamptz NOT NULL,
        revoked_at       timestamptz
      )`);
    await db.query(`CREATE INDEX api_keys_organization ON api_keys (organization_id)`);
    await db.query(`
      CREATE TABLE subscription_events (
        position         bigserial PRIMARY KEY,
        subscription_id  text NOT NULL,
        organization_id  text NOT NULL,
        version          integer NOT NULL CHECK (version > 0),
        type             text NOT NULL,
        event            jsonb NOT NULL,
        occurred_at      timestamptz NOT NULL,
        UNIQUE (subscription_id, version)
      )`);
    // The store is append-only: history is never edited, whoever connects.
    await db.query(`
      CREATE FUNCTION subscription_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'subscription_events is append-only';
      END $$`);
    await db.query(`
      CREATE TRIGGER subscription_events_no_change BEFORE UPDATE OR DELETE ON subscription_events
      FOR EACH ROW EXECUTE FUNCTION subscription_events_append_only()`);
    await db.query(`
      CREATE TABLE subscriptions (
        id               text PRIMARY KEY,
        organization_id  text NOT NULL,
        state            jsonb NOT NULL,
        status           text NOT NULL,
        version          integer NOT NULL,
        deleted          boolean NOT NULL DEFAULT false,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL
      )`);
    await db.query(
      `CREATE INDEX subscriptions_organization ON subscriptions (organization_id, id) WHERE NOT deleted`,
    );
    await db.query(`
      CREATE TABLE outbox (
        id          bigserial PRIMARY KEY,
        topic       text NOT NULL,
        key         text,
        value       jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE outbox`);
    await db.query(`DROP TABLE subscriptions`);
    await db.query(`DROP TABLE subscription_events`);
    await db.query(`DROP FUNCTION subscription_events_append_only`);
    await db.query(`DROP TABLE api_keys`);
    await db.query(`DROP TABLE organizations`);
  }
}
