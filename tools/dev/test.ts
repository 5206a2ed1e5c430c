import { build } from './build.ts';
import { runIntegration } from './integration.ts';
import { say, step } from './processes.ts';

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
  // Tools run with this process's Node flags (tools/run.sh's).
  step('deployment artefacts', process.execPath, [...process.execArgv, 'tools/deploy/validate.ts']);

  await runIntegration();
  // The benchmark's short version: keeps the harness working (the figures mean little
  // here), its stall recording included.
  step('pipeline benchmark (smoke)', process.execPath, [
    ...process.execArgv,
    'tools/bench/pipeline.ts',
    '--smoke',
    '--stalls',
  ]);
}

main().then(
  () => say('all checks passed'),
  (error: Error) => {
    say(error.message);
    process.exit(1);
  },
);
