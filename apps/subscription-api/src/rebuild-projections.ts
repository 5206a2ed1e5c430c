import { subscriptionEventSchema, TOPICS } from '@hookpost/contracts';
import { replay } from '@hookpost/domain';
import { createLogger, loadConfigOrExit } from '@hookpost/platform';
import { z } from 'zod';
import { createDataSource } from './database/data-source.js';
import { enqueue } from './event-store/outbox.js';
import { projectSubscription } from './event-store/read-model.js';
import {
  ORGANIZATION_COLUMNS,
  publishOrganization,
  type OrganizationRow,
} from './organizations/organizations.service.js';

/**
 * Rebuilds the `subscriptions` read model from the event store, the only source of truth:
 * `node apps/subscription-api/dist/rebuild-projections.js [--republish]`
 * (`npm run rebuild-projections` in a checkout). Every subscription's events are folded
 * again with the same `evolve` the API uses; rows without events are removed. With
 * `--republish`, every state is also sent again to the compacted state topic, and every
 * organisation to the organisation topic (through the outbox), for example after those
 * topics were lost: event-ingest learns organisations and their domains from it. Runs in one transaction that holds the
 * read model locked, so API writes wait for it rather than interleave.
 */
const config = loadConfigOrExit(
  'subscription-api-rebuild',
  z.object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    LOG_LEVEL: z.string().default('info'),
  }),
);
const republish = process.argv.includes('--republish');
const logger = createLogger('subscription-api-rebuild', config.LOG_LEVEL);
const dataSource = createDataSource(config.DATABASE_URL, 1);
await dataSource.initialize();
const PAGE = 500;
try {
  const counts = await dataSource.transaction(async (manager) => {
    await manager.query('LOCK TABLE subscriptions IN EXCLUSIVE MODE');
    let rebuilt = 0;
    let after = '';
    for (;;) {
      const ids = (
        (await manager.query(
          `SELECT DISTINCT subscription_id FROM subscription_events
           WHERE subscription_id > $1 ORDER BY subscription_id LIMIT $2`,
          [after, PAGE],
        )) as Array<{ subscription_id: string }>
      ).map((row) => row.subscription_id);
      if (ids.length === 0) break;
      const rows = (await manager.query(
        `SELECT subscription_id, event FROM subscription_events
         WHERE subscription_id = ANY($1) ORDER BY subscription_id, version`,
        [ids],
      )) as Array<{ subscription_id: string; event: unknown }>;
      const eventsOf = Map.groupBy(rows, (row) => row.subscription_id);
      for (const id of ids) {
        const events = (eventsOf.get(id) ?? []).map((row) =>
          subscriptionEventSchema.parse(row.event),
        );
        const state = replay(events);
        if (!state) continue;
        await projectSubscription(manager, state);
        if (republish) {
          await enqueue(manager, [{ topic: TOPICS.subscriptionState, key: id, value: state }]);
        }
        rebuilt++;
      }
      after = ids[ids.length - 1]!;
    }
    const removed = (await manager.query(
      `DELETE FROM subscriptions s
       WHERE NOT EXISTS (SELECT 1 FROM subscription_events e WHERE e.subscription_id = s.id)`,
    )) as [unknown, number];
    let organizations = 0;
    if (republish) {
      const rows = (await manager.query(
        `SELECT ${ORGANIZATION_COLUMNS} FROM organizations ORDER BY id`,
      )) as OrganizationRow[];
      for (const row of rows) {
        const type = row.deleted_at ? 'organization.deleted' : 'organization.updated';
        await publishOrganization(manager, type, row);
      }
      organizations = rows.length;
    }
    return { rebuilt, removed: removed[1], organizations };
  });
  logger.info({ ...counts, republished: republish }, 'subscription read model rebuilt');
} finally {
  await dataSource.destroy();
}
