import { mkdirSync } from 'node:fs';
import { ensureKcat } from '../infra/kcat.ts';
import { freePort } from '../infra/kafka.ts';
import { build } from './build.ts';
import { ROOT, say, step } from './processes.ts';
import { startStack } from './stack.ts';

/**
 * `npm test`: every check, in the order that fails fastest. Formatting, lint (with the
 * module boundaries), types, unit tests, the deployment artefacts; then the integration
 * and end-to-end tests against a real Kafka broker and Postgres started for the run
 * (or the ones KAFKA_BROKERS / DATABASE_URL name).
 */
async function main(): Promise<void> {
  step('format (prettier)', 'prettier', ['--check', '--log-level=warn', '.']);
  step('lint and type check', 'nx', [
    'run-many',
    '-t',
    'lint',
    'typecheck',
    '--outputStyle=dynamic-legacy',
  ]);
  step('lint tools', 'eslint', ['tools']);
  step('type check tools', 'tsc', ['-p', 'tools/tsconfig.json']);
  build();
  step('unit tests', 'vitest', ['run', '--project', 'unit']);
  step('deployment artefacts', process.execPath, [
    '--disable-warning=ExperimentalWarning',
    'tools/deploy/validate.ts',
  ]);

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
    step('integration and end-to-end tests', 'vitest', ['run', '--project', 'integration'], {
      ...process.env,
      ...stack.env,
      KCAT: kcat,
      HOOKPOST_TEST_DIR: dataDir,
    });
  } catch (error) {
    say(`service logs and broker data kept in ${dataDir}`);
    throw error;
  } finally {
    await stack.stop();
  }
  stack.purge();
}

main().then(
  () => say('all checks passed'),
  (error: Error) => {
    say(error.message);
    process.exit(1);
  },
);
