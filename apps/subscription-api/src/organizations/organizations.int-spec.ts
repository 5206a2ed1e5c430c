import { organizationEventSchema, TOPICS, type OrganizationEvent } from '@hookpost/contracts';
import { scratchDatabase, type ScratchDatabase } from '@hookpost/testing';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import type { OutboxRelay } from '../event-store/outbox.js';
import { OrganizationsService } from './organizations.service.js';

/** Organisation changes and their events against a real Postgres (a database of its own). */
let database: ScratchDatabase;
let dataSource: DataSource;
let organizations: OrganizationsService;

beforeAll(async () => {
  database = await scratchDatabase('organizations');
  dataSource = createDataSource(database.url, 4);
  await dataSource.initialize();
  await migrate(dataSource);
  // The events are read from the outbox here: nothing relays them.
  const relay = { kickAndWait: () => Promise.resolve() } as unknown as OutboxRelay;
  organizations = new OrganizationsService(dataSource, relay);
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

/** The organisation's events in the outbox, in the order they committed. */
async function published(organizationId: string): Promise<OrganizationEvent[]> {
  const rows = (await dataSource.query(
    'SELECT value FROM outbox WHERE topic = $1 AND key = $2 ORDER BY id',
    [TOPICS.organizationEvents, organizationId],
  )) as Array<{ value: unknown }>;
  return rows.map((row) => organizationEventSchema.parse(row.value));
}

describe('organisation events', () => {
  it('number the changes in the order they commit, not the order they began', async () => {
    const { id } = await organizations.create({ name: 'Order Co', domains: ['old.example'] });
    // Another registration of domains holds their lock: the domain change begins, and waits.
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    await other.query('BEGIN');
    await other.query("SELECT pg_advisory_xact_lock(hashtext('hookpost:organization-domains'))");
    const domainChange = organizations.update(id, { domains: ['new.example'] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A rename, begun later, needs no such lock and commits first.
    await organizations.update(id, { name: 'Order Co Ltd' });
    await other.query('COMMIT');
    await other.end();
    await domainChange;

    const events = await published(id);
    expect(events.map((e) => [e.type, e.version])).toEqual([
      ['organization.created', 1],
      ['organization.updated', 2],
      ['organization.updated', 3],
    ]);
    // The last to commit is the highest version, which readers keep.
    expect(events.at(-1)!.data).toEqual({ name: 'Order Co Ltd', domains: ['new.example'] });
  });
});
