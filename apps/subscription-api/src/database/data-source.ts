import { DataSource } from 'typeorm';
import { InitialSchema1764000000000 } from './migrations/1764000000000-initial-schema.js';
import { DeliveryAttempts1764000000001 } from './migrations/1764000000001-delivery-attempts.js';
import { IngestDedupe1764000000002 } from './migrations/1764000000002-ingest-dedupe.js';
import { EventLog1764000000003 } from './migrations/1764000000003-event-log.js';
import { ManualRetries1764000000004 } from './migrations/1764000000004-manual-retries.js';
import { OrganizationVersions1764000000005 } from './migrations/1764000000005-organization-versions.js';
import { EventLogStoredAt1764000000006 } from './migrations/1764000000006-event-log-stored-at.js';
import { IdempotencyKeys1764000000007 } from './migrations/1764000000007-idempotency-keys.js';
import { AttemptsNotSucceeded1764000000008 } from './migrations/1764000000008-attempts-not-succeeded.js';
import { AttemptResponseBody1764000000009 } from './migrations/1764000000009-attempt-response-body.js';
import { OrganizationLifecycle1764000000010 } from './migrations/1764000000010-organization-lifecycle.js';
import { ApiKeyExpiry1764000000011 } from './migrations/1764000000011-api-key-expiry.js';
import { DeliveryStatsHourly1764000000012 } from './migrations/1764000000012-delivery-stats-hourly.js';

/** Every migration, in order. Schema changes are made only by migrations, never `synchronize`. */
export const MIGRATIONS = [
  InitialSchema1764000000000,
  DeliveryAttempts1764000000001,
  IngestDedupe1764000000002,
  EventLog1764000000003,
  ManualRetries1764000000004,
  OrganizationVersions1764000000005,
  EventLogStoredAt1764000000006,
  IdempotencyKeys1764000000007,
  AttemptsNotSucceeded1764000000008,
  AttemptResponseBody1764000000009,
  OrganizationLifecycle1764000000010,
  ApiKeyExpiry1764000000011,
  DeliveryStatsHourly1764000000012,
];

/**
 * Applies the pending migrations, each in a transaction of its own, save those that
 * cannot run in one (an index built concurrently).
 */
export function migrate(dataSource: DataSource) {
  return dataSource.runMigrations({ transaction: 'each' });
}

/**
 * The database as the API and its commands use it. A statement fails after 10 s, so that
 * a call answers 503 instead of hanging; `unbounded` lifts that for migrations, which may
 * count or index a large table, and do it once (a Job has its own deadline).
 */
export function createDataSource(
  url: string,
  poolSize: number,
  { unbounded = false }: { unbounded?: boolean } = {},
): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    poolSize,
    synchronize: false,
    migrationsRun: false,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    extra: {
      // Fail fast when the database is away, so callers answer 503 instead of hanging.
      connectionTimeoutMillis: 3_000,
      ...(unbounded ? {} : { statement_timeout: 10_000, query_timeout: 12_000 }),
    },
  });
}
