import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * event-ingest's dedupe record: the first place (topic, partition, offset) each event id
 * was seen. A copy seen elsewhere is a duplicate; the same place seen again is a redelivery
 * of the same message and is processed again (at least once). Rows older than
 * DEDUPE_WINDOW are purged by event-ingest.
 */
export class IngestDedupe1764000000002 implements MigrationInterface {
  name = 'IngestDedupe1764000000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ingested_events (
        event_id          text PRIMARY KEY,
        source_topic      text NOT NULL,
        source_partition  integer NOT NULL,
        source_offset     bigint NOT NULL,
        first_seen_at     timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX ingested_events_first_seen ON ingested_events (first_seen_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE ingested_events`);
  }
}
