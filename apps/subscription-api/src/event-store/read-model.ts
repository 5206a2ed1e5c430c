import type { Subscription } from '@hookpost/domain';
import type { EntityManager } from 'typeorm';

/**
 * The read model: the current state per subscription, for queries. Written in the same
 * transaction as the events it reflects, and rebuildable from them (rebuild-projections).
 */
export async function projectSubscription(
  manager: EntityManager,
  state: Subscription,
): Promise<void> {
  await manager.query(
    `INSERT INTO subscriptions (id, organization_id, state, status, version, deleted, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET state = $3, status = $4, version = $5, deleted = $6, updated_at = $8`,
    [
      state.id,
      state.organizationId,
      JSON.stringify(state),
      state.status,
      state.version,
      state.deleted,
      state.createdAt,
      state.updatedAt,
    ],
  );
}
