import { newId, TOPICS, type OrganizationEvent } from '@hookpost/contracts';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { z } from 'zod';
import { generateApiKey, hashApiKey } from '../auth/credentials.js';
import { enqueue, OutboxRelay } from '../event-store/outbox.js';
import { ApiError } from '../http/api-error.js';
import type {
  createApiKeySchema,
  createOrganizationSchema,
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
}

/** The columns of an OrganizationRow. */
export const ORGANIZATION_COLUMNS = 'id, name, domains, created_at, updated_at, version';

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
  ) {}

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
         WHERE id = $1 RETURNING ${ORGANIZATION_COLUMNS}`,
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
    const scope = input.scope ?? {};
    const rows = (await this.dataSource.query(
      `INSERT INTO api_keys (id, organization_id, key_hash, key_prefix, scope, created_at)
       SELECT $1, id, $3, $4, $5, now() FROM organizations WHERE id = $2
       RETURNING created_at`,
      [id, organizationId, hashApiKey(key), key.slice(0, 8), JSON.stringify(scope)],
    )) as Array<{ created_at: Date }>;
    if (rows.length === 0) throw ApiError.notFound('organization');
    return {
      id,
      organization_id: organizationId,
      key,
      scope,
      created_at: rows[0]!.created_at.toISOString(),
    };
  }

  async revokeApiKey(organizationId: string, keyId: string): Promise<void> {
    const [, count] = (await this.dataSource.query(
      'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND organization_id = $2 AND revoked_at IS NULL',
      [keyId, organizationId],
    )) as [unknown, number];
    if (count === 0) throw ApiError.notFound('API key');
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
