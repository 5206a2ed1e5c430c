import { mkdirSync } from 'node:fs';
import { ensureKcat } from '../infra/kcat.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { ROOT, say, step } from './processes.ts';
import { startStack } from './stack.ts';

/**
 * The integration and end-to-end tests against a throwaway Kafka broker and Postgres
 * (or the ones KAFKA_BROKERS / DATABASE_URL name). `filters` narrow the run to matching
 * test files, as vitest's own positional arguments do. Expects a build (`npm run build`).
 */
export async function runIntegration(filters: string[] = []): Promise<void> {
  const kcat = await ensureKcat();
  const dataDir = `${ROOT}.data/test-${process.pid}`;
  mkdirSync(dataDir, { recursive: true });
  const stack = await startStack({
    dataDir,
    kafkaPort: await freePort(),
    kafkaControllerPort: await freePort(),
    postgresPort: await freePort(),
  });
  try {
    step(
      'integration and end-to-end tests',
      'vitest',
      ['run', '--project', 'integration', ...filters],
      {
        ...process.env,
        ...stack.env,
        KCAT: kcat,
        HOOKPOST_TEST_DIR: dataDir,
      },
    );
  } catch (error) {
    say(`service logs and broker data kept in ${dataDir}`);
    throw error;
  } finally {
    await stack.stop();
  }
  stack.purge();
}

// `npm run test:integration -- [file filters]`
if (import.meta.url === `file://${process.argv[1]}`) {
  runIntegration(process.argv.slice(2)).then(
    () => say('integration tests passed'),
    (error: Error) => {
      say(error.message);
      process.exit(1);
    },
  );
}
