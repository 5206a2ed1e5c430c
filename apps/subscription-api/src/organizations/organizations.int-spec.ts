import {
  newId,
  organizationEventSchema,
  TOPICS,
  type OrganizationEvent,
} from '@hookpost/contracts';
import {
  createSubscriptionCommand,
  scratchDatabase,
  type ScratchDatabase,
} from '@hookpost/testing';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateApiKey } from '../auth/guards.js';
import { createDataSource, migrate } from '../database/data-source.js';
import type { DeliveryFence } from '../event-store/delivery-fence.js';
import type { OutboxRelay } from '../event-store/outbox.js';
import { executeCommand, executeIn } from '../event-store/subscription-store.js';
import { OrganizationsService } from './organizations.service.js';

/** The changes these tests make are the operator's. */
const TEST_ACTOR = { kind: 'operator' } as const;

/** Organisation changes and their events against a real Postgres (a database of its own). */
let database: ScratchDatabase;
let dataSource: DataSource;
let organizations: OrganizationsService;
/** The subscriptions each deletion waited for the deliverers on (the fence needs Kafka). */
const fenced: string[][] = [];

beforeAll(async () => {
  database = await scratchDatabase('organizations');
  dataSource = createDataSource(database.url, 4);
  await dataSource.initialize();
  await migrate(dataSource);
  // The events are read from the outbox here: nothing relays them.
  const relay = { kickAndWait: () => Promise.resolve() } as unknown as OutboxRelay;
  const fence = {
    afterChanges: (ids: readonly string[]) => {
      fenced.push([...ids]);
      return Promise.resolve('acknowledged');
    },
  } as unknown as DeliveryFence;
  organizations = new OrganizationsService(dataSource, relay, fence);
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

describe('organisations for the operator', () => {
  it('lists organisations a page at a time, finds the holder of a domain, and passes over deleted ones', async () => {
    const run = Date.now().toString(36);
    const created = [];
    for (const name of ['One', 'Two', 'Three']) {
      created.push(
        await organizations.create({
          name: `${name} ${run}`,
          domains: [`${name.toLowerCase()}-${run}.example`],
        }),
      );
    }
    const ids = created.map((o) => o.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await organizations.list({ limit: 2, cursor });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((o) => o.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
    expect(new Set(seen).size).toBe(seen.length);

    const holder = await organizations.list({ limit: 20, domain: `two-${run}.example` });
    expect(holder.data.map((o) => o.id)).toEqual([ids[1]]);
    expect(await organizations.get(ids[1]!)).toMatchObject({ name: `Two ${run}` });

    await organizations.remove(ids[1]!);
    await expect(organizations.get(ids[1]!)).rejects.toMatchObject({ status: 404 });
    expect((await organizations.list({ limit: 20, domain: `two-${run}.example` })).data).toEqual(
      [],
    );
    const all = await organizations.list({ limit: 100 });
    expect(all.data.map((o) => o.id)).not.toContain(ids[1]);
  });

  it("lists an organisation's keys with their names and last use, never the key", async () => {
    const { id } = await organizations.create({ name: 'Keys Co', domains: [] });
    const ci = await organizations.createApiKey(id, { name: 'CI deploys' });
    const app = await organizations.createApiKey(id, { scope: { domains: ['keys.example'] } });
    expect(ci).toMatchObject({ name: 'CI deploys', last_used_at: null, revoked_at: null });
    expect(ci.key.startsWith(ci.key_prefix)).toBe(true);

    // A call with the key records its use, once a minute at most.
    await authenticateApiKey(dataSource, `Bearer ${app.key}`);
    const used = await organizations.listApiKeys(id, { limit: 20, include_revoked: false });
    const appUsed = used.data.find((k) => k.id === app.id)!;
    expect(appUsed.last_used_at).not.toBeNull();
    await authenticateApiKey(dataSource, `Bearer ${app.key}`);
    const again = await organizations.listApiKeys(id, { limit: 20, include_revoked: false });
    expect(again.data.find((k) => k.id === app.id)!.last_used_at).toBe(appUsed.last_used_at);
    expect(used.data.find((k) => k.id === ci.id)!.last_used_at).toBeNull();
    for (const key of used.data) {
      expect(Object.keys(key).sort()).toEqual(
        [
          'created_at',
          'id',
          'key_prefix',
          'last_used_at',
          'expires_at',
          'name',
          'organization_id',
          'revoked_at',
          'scope',
        ].sort(),
      );
    }

    await organizations.revokeApiKey(id, ci.id);
    const live = await organizations.listApiKeys(id, { limit: 20, include_revoked: false });
    expect(live.data.map((k) => k.id)).toEqual([app.id]);
    const everyKey = await organizations.listApiKeys(id, { limit: 1, include_revoked: true });
    expect(everyKey.data).toHaveLength(1);
    expect(everyKey.next_cursor).toBe(everyKey.data[0]!.id);
    const rest = await organizations.listApiKeys(id, {
      limit: 1,
      include_revoked: true,
      cursor: everyKey.next_cursor!,
    });
    const both = [...everyKey.data, ...rest.data];
    expect(both.map((k) => k.id).sort()).toEqual([ci.id, app.id].sort());
    expect(both.find((k) => k.id === ci.id)!.revoked_at).not.toBeNull();
  });
});

describe('an expiring API key', () => {
  it('works until its time, then is refused as expired; the list shows when', async () => {
    const { id } = await organizations.create({ name: 'Expiring Co', domains: [] });
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const key = await organizations.createApiKey(id, { name: 'contractor', expires_at: expiresAt });
    expect(key.expires_at).toBe(expiresAt);
    await expect(authenticateApiKey(dataSource, `Bearer ${key.key}`)).resolves.toMatchObject({
      organizationId: id,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    await expect(authenticateApiKey(dataSource, `Bearer ${key.key}`)).rejects.toMatchObject({
      status: 401,
      code: 'api_key_expired',
    });
    const listed = await organizations.listApiKeys(id, { limit: 20, include_revoked: false });
    expect(listed.data).toEqual([expect.objectContaining({ id: key.id, expires_at: expiresAt })]);
    // A key without an expiry keeps working.
    const lasting = await organizations.createApiKey(id, {});
    expect(lasting.expires_at).toBeNull();
    await expect(authenticateApiKey(dataSource, `Bearer ${lasting.key}`)).resolves.toBeDefined();
  });
});

/** A subscription of `organizationId` to create. */
const createCommand = (organizationId: string) =>
  createSubscriptionCommand(newId('webhook'), organizationId);

describe('deleting an organisation', () => {
  it('revokes its keys, deletes its subscriptions, releases its domains and says so to event-ingest', async () => {
    const run = Date.now().toString(36);
    const { id } = await organizations.create({
      name: 'Leaving',
      domains: [`leaving-${run}.example`],
    });
    const other = await organizations.create({ name: 'Staying', domains: [] });
    const key = await organizations.createApiKey(id, {});
    const mine = [createCommand(id), createCommand(id)];
    const theirs = createCommand(other.id);
    for (const command of [...mine, theirs]) {
      await executeCommand(dataSource, command.subscriptionId, command, {
        organizationId: command.organizationId,
        actor: TEST_ACTOR,
      });
    }

    await organizations.remove(id);

    expect(fenced.at(-1)!.sort()).toEqual(mine.map((c) => c.subscriptionId).sort());
    const rows = (await dataSource.query(
      'SELECT id, organization_id, deleted FROM subscriptions WHERE organization_id = ANY($1) ORDER BY id',
      [[id, other.id]],
    )) as Array<{ id: string; organization_id: string; deleted: boolean }>;
    expect(rows.filter((r) => r.organization_id === id).every((r) => r.deleted)).toBe(true);
    expect(rows.find((r) => r.id === theirs.subscriptionId)!.deleted).toBe(false);
    // Each deletion is in the subscription's history, as a DELETE of it would put it, made
    // by the operator.
    const history = (await dataSource.query(
      `SELECT event->'actor' AS actor FROM subscription_events
       WHERE subscription_id = ANY($1) AND type = 'subscription.deleted'`,
      [mine.map((c) => c.subscriptionId)],
    )) as Array<{ actor: unknown }>;
    expect(history).toEqual([{ actor: { kind: 'operator' } }, { actor: { kind: 'operator' } }]);
    await expect(authenticateApiKey(dataSource, `Bearer ${key.key}`)).rejects.toMatchObject({
      status: 401,
    });
    const events = await published(id);
    expect(events.at(-1)).toMatchObject({
      type: 'organization.deleted',
      version: 2,
      data: { name: 'Leaving', domains: [] },
    });

    // Gone for every operator call; its domain free for another organisation.
    await expect(organizations.remove(id)).rejects.toMatchObject({ status: 404 });
    await expect(organizations.update(id, { name: 'Back' })).rejects.toMatchObject({ status: 404 });
    await expect(organizations.createApiKey(id, {})).rejects.toMatchObject({ status: 404 });
    await expect(
      organizations.listApiKeys(id, { limit: 20, include_revoked: true }),
    ).rejects.toMatchObject({ status: 404 });
    await organizations.update(other.id, { domains: [`leaving-${run}.example`] });
    // And no subscription can be made for it.
    const late = createCommand(id);
    await expect(
      executeCommand(dataSource, late.subscriptionId, late, {
        organizationId: id,
        actor: TEST_ACTOR,
      }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('deletes a subscription whose creation was under way when the deletion began', async () => {
    const { id } = await organizations.create({ name: 'Racing', domains: [] });
    // A creation, authenticated before the keys were revoked, has begun and not committed.
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    const creating = createCommand(id);
    await executeIn(runner.manager, creating.subscriptionId, creating, {
      organizationId: id,
      actor: TEST_ACTOR,
    });

    const removal = organizations.remove(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await runner.commitTransaction();
    await runner.release();
    await removal;

    const [row] = (await dataSource.query('SELECT deleted FROM subscriptions WHERE id = $1', [
      creating.subscriptionId,
    ])) as Array<{ deleted: boolean }>;
    expect(row?.deleted).toBe(true);
    expect(fenced.at(-1)).toEqual([creating.subscriptionId]);
  });
});
