import { createLogger, loadConfigOrExit } from '@hookpost/platform';
import { z } from 'zod';
import { createDataSource, migrate } from './database/data-source.js';

/**
 * Applies pending migrations and exits: `node apps/subscription-api/dist/migrate.js`.
 * Run before a new version starts (a Helm hook, a Compose one-shot, `npm start`).
 */
const config = loadConfigOrExit(
  'subscription-api-migrate',
  z.object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    LOG_LEVEL: z.string().default('info'),
  }),
);
const logger = createLogger('subscription-api-migrate', config.LOG_LEVEL);
// Without the API's statement timeout: a migration may count or index the whole log.
const dataSource = createDataSource(config.DATABASE_URL, 1, { unbounded: true });
await dataSource.initialize();
try {
  const applied = await migrate(dataSource);
  logger.info(
    { applied: applied.map((m) => m.name) },
    applied.length ? 'migrations applied' : 'schema up to date',
  );
} finally {
  await dataSource.destroy();
}
