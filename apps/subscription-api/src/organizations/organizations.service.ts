import { newId, TOPICS, type OrganizationEvent } from '@hookpost/contracts';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { z } from 'zod';
import { generateApiKey, hashApiKey } from '../auth/credentials.js';
import { DeliveryFence } from '../event-store/delivery-fence.js';
import { enqueue, OutboxRelay } from '../event-store/outbox.js';
import { conflictOnCollision, executeIn } from '../event-store/subscription-store.js';
import { ApiError } from '../http/api-error.js';
import type {
  createApiKeySchema,
  createOrganizationSchema,
  listApiKeysQuery,
  listOrganizationsQuery,
  updateOrganizationSchema,
} from './organizations.schemas.js';

export interface OrganizationView {
  id: string;
  name: string;
  domains: string[];
  created_at: string;
  updated_at: string;
}

export interface OrganizationRow {
  id: string;
  name: string;
  domains: string[];
  created_at: Date;
  updated_at: Date;
  /** Raised by every change, in the order the changes commit. */
  version: number;
  deleted_at: Date | null;
}

/** The columns of an OrganizationRow. */
export const ORGANIZATION_COLUMNS =
  'id, name, domains, created_at, updated_at, version, deleted_at';

/** An API key as the operator sees it: never the key, which only its holder has. */
export interface ApiKeyView {
  id: string;
  organization_id: string;
  name: string | null;
  /** The key's first characters, to match a key in hand to its entry. */
  key_prefix: string;
  scope: { domains?: string[]; mailboxes?: string[] };
  created_at: string;
  /** To the minute: the API records a use once a minute at most. */
  last_used_at: string | null;
  /** When it stops working by itself; null: only when revoked. */
  expires_at: string | null;
  revoked_at: string | null;
}

interface ApiKeyRow {
  id: string;
  organization_id: string;
  name: string | null;
  key_prefix: string;
  scope: ApiKeyView['scope'];
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const API_KEY_COLUMNS =
  'id, organization_id, name, key_prefix, scope, created_at, last_used_at, expires_at, revoked_at';

const keyView = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  organization_id: row.organization_id,
  name: row.name,
  key_prefix: row.key_prefix,
  scope: row.scope,
  created_at: row.created_at.toISOString(),
  last_used_at: row.last_used_at?.toISOString() ?? null,
  expires_at: row.expires_at?.toISOString() ?? null,
  revoked_at: row.revoked_at?.toISOString() ?? null,
});

/** A page of `rows`, read with one more than `limit` to tell whether another follows. */
function pageOf<Row extends { id: string }, View>(
  rows: Row[],
  limit: number,
  view: (row: Row) => View,
): { data: View[]; next_cursor: string | null } {
  const data = rows.slice(0, limit);
  return {
    data: data.map(view),
    next_cursor: rows.length > limit ? data[data.length - 1]!.id : null,
  };
}

const toView = (row: OrganizationRow): OrganizationView => ({
  id: row.id,
  name: row.name,
  domains: row.domains,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

/** Organisations (tenants) and their API keys; changes reach Kafka through the outbox. */
@Injectable()
export class OrganizationsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
    private readonly fence: DeliveryFence,
  ) {}

  async get(id: string): Promise<OrganizationView> {
    const [row] = (await this.dataSource.query(
      `SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1 AND deleted_at IS NULL`,
      [id],
    )) as OrganizationRow[];
    if (!row) throw ApiError.notFound('organization');
    return toView(row);
  }

  /** Ids are time-ordered: pages go by id, which inserts do not shift. */
  async list(query: z.infer<typeof listOrganizationsQuery>) {
    const rows = (await this.dataSource.query(
      `SELECT ${ORGANIZATION_COLUMNS} FROM organizations
       WHERE deleted_at IS NULL AND ($1::text IS NULL OR id > $1)
         AND ($2::text IS NULL OR $2 = ANY(domains))
       ORDER BY id LIMIT $3`,
      [query.cursor ?? null, query.domain ?? null, query.limit + 1],
    )) as OrganizationRow[];
    return pageOf(rows, query.limit, toView);
  }

  async create(input: z.infer<typeof createOrganizationSchema>): Promise<OrganizationView> {
    const id = newId('organization');
    const now = new Date();
    const row = await this.dataSource.transaction(async (manager) => {
      await this.assertDomainsFree(manager, id, input.domains);
      const [created] = (await manager.query(
        `INSERT INTO organizations (id, name, domains, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         RETURNING ${ORGANIZATION_COLUMNS}`,
        [id, input.name, input.domains, now],
      )) as OrganizationRow[];
      await this.publish(manager, 'organization.created', created!);
      return created!;
    });
    await this.relay.kickAndWait(2_000);
    return toView(row);
  }

  async update(
    id: string,
    input: z.infer<typeof updateOrganizationSchema>,
  ): Promise<OrganizationView> {
    const row = await this.dataSource.transaction(async (manager) => {
      if (input.domains) await this.assertDomainsFree(manager, id, input.domains);
      // TypeORM answers an UPDATE with [rows, count], not the rows alone. The version is
      // raised on the row, which concurrent changes lock in turn: it follows their commit
      // order, where now() (the transaction's start) may not.
      const [[updated]] = (await manager.query(
        `UPDATE organizations SET name = coalesce($2, name), domains = coalesce($3, domains), updated_at = now(),
           version = version + 1
         WHERE id = $1 AND deleted_at IS NULL RETURNING ${ORGANIZATION_COLUMNS}`,
        [id, input.name ?? null, input.domains ?? null],
      )) as [OrganizationRow[], number];
      if (!updated) throw ApiError.notFound('organization');
      await this.publish(manager, 'organization.updated', updated);
      return updated;
    });
    await this.relay.kickAndWait(2_000);
    return toView(row);
  }

  async createApiKey(organizationId: string, input: z.infer<typeof createApiKeySchema>) {
    const id = newId('apiKey');
    const key = generateApiKey();
    const [row] = (await this.dataSource.query(
      `INSERT INTO api_keys (id, organization_id, name, key_hash, key_prefix, scope, expires_at, created_at)
       SELECT $1, id, $3, $4, $5, $6, $7, now() FROM organizations WHERE id = $2 AND deleted_at IS NULL
       RETURNING ${API_KEY_COLUMNS}`,
      [
        id,
        organizationId,
        input.name ?? null,
        hashApiKey(key),
        key.slice(0, 8),
        JSON.stringify(input.scope ?? {}),
        input.expires_at ?? null,
      ],
    )) as ApiKeyRow[];
    if (!row) throw ApiError.notFound('organization');
    return { ...keyView(row), key };
  }

  async listApiKeys(organizationId: string, query: z.infer<typeof listApiKeysQuery>) {
    await this.get(organizationId);
    const rows = (await this.dataSource.query(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys
       WHERE organization_id = $1 AND ($2::text IS NULL OR id > $2) AND ($3 OR revoked_at IS NULL)
       ORDER BY id LIMIT $4`,
      [organizationId, query.cursor ?? null, query.include_revoked, query.limit + 1],
    )) as ApiKeyRow[];
    return pageOf(rows, query.limit, keyView);
  }

  async revokeApiKey(organizationId: string, keyId: string): Promise<void> {
    const [, count] = (await this.dataSource.query(
      'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND organization_id = $2 AND revoked_at IS NULL',
      [keyId, organizationId],
    )) as [unknown, number];
    if (count === 0) throw ApiError.notFound('API key');
  }

  /**
   * Offboards a tenant, in one transaction: its keys revoked, every subscription deleted
   * (each through the event store, as a DELETE of it would), its domains released and the
   * organisation marked deleted (`organization.deleted`, which event-ingest applies: events
   * naming it or its domains are then unknown). Answers, as a webhook's DELETE does, once
   * no deliverer can start a delivery to any of them (ADR 0017). Its stored events go
   * with the retention's next pass (DeliveryLogRetention); its delivery log ages out.
   */
  async remove(id: string): Promise<void> {
    const deleted = await this.dataSource
      .transaction(async (manager) => {
        // Held to the end: a subscription being created meanwhile commits first, and is
        // listed below, or waits and is refused (executeIn).
        const [organization] = (await manager.query(
          'SELECT id FROM organizations WHERE id = $1 AND deleted_at IS NULL FOR UPDATE',
          [id],
        )) as Array<{ id: string }>;
        if (!organization) throw ApiError.notFound('organization');
        await manager.query(
          'UPDATE api_keys SET revoked_at = now() WHERE organization_id = $1 AND revoked_at IS NULL',
          [id],
        );
        const subscriptions = (await manager.query(
          'SELECT id FROM subscriptions WHERE organization_id = $1 AND NOT deleted ORDER BY id',
          [id],
        )) as Array<{ id: string }>;
        for (const subscription of subscriptions) {
          await executeIn(
            manager,
            subscription.id,
            { type: 'delete' },
            { organizationId: id, actor: { kind: 'operator' } },
          );
        }
        const [[row]] = (await manager.query(
          `UPDATE organizations SET domains = '{}', deleted_at = now(), updated_at = now(),
             version = version + 1
           WHERE id = $1 RETURNING ${ORGANIZATION_COLUMNS}`,
          [id],
        )) as [OrganizationRow[], number];
        await this.publish(manager, 'organization.deleted', row!);
        return subscriptions.map((subscription) => subscription.id);
      })
      .catch(
        conflictOnCollision(
          'a subscription of the organisation was changed at the same time; delete it again',
        ),
      );
    await this.relay.kickAndWait(2_000);
    if (deleted.length > 0) await this.fence.afterChanges(deleted);
  }

  /** A sending domain identifies one organisation: event-ingest routes events by it. */
  private async assertDomainsFree(
    manager: EntityManager,
    id: string,
    domains: string[],
  ): Promise<void> {
    if (domains.length === 0) return;
    // Registrations of domains take turns (until the transaction ends): two at once could
    // otherwise each find a domain free, and both claim it.
    await manager.query("SELECT pg_advisory_xact_lock(hashtext('hookpost:organization-domains'))");
    const taken = (await manager.query(
      'SELECT DISTINCT d FROM organizations, unnest(domains) AS d WHERE id <> $1 AND d = ANY($2::text[])',
      [id, domains],
    )) as Array<{ d: string }>;
    if (taken.length > 0) {
      throw new ApiError(
        409,
        'domain_taken',
        `domains already registered to another organisation: ${taken.map((t) => t.d).join(', ')}`,
        taken.map((t) => ({
          field: 'domains',
          code: 'domain_taken',
          message: `${t.d} is registered to another organisation`,
        })),
      );
    }
  }

  private async publish(
    manager: EntityManager,
    type: OrganizationEvent['type'],
    row: OrganizationRow,
  ): Promise<void> {
    await publishOrganization(manager, type, row);
  }
}

/**
 * The organisation as it is now, to the compacted organisation topic (through the outbox,
 * in the caller's transaction). Its version and time are the row's last change: readers
 * keep the highest version.
 */
export async function publishOrganization(
  manager: EntityManager,
  type: OrganizationEvent['type'],
  row: OrganizationRow,
): Promise<void> {
  const event: OrganizationEvent = {
    eventId: newId('event'),
    type,
    organizationId: row.id,
    version: row.version,
    occurredAt: row.updated_at.toISOString(),
    data: { name: row.name, domains: row.domains },
  };
  await enqueue(manager, [{ topic: TOPICS.organizationEvents, key: row.id, value: event }]);
}
