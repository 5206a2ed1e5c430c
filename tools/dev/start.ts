import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { build } from './build.ts';
import { ROOT, say, step, stopChild } from './processes.ts';
import { startServices } from './services.ts';
import { startStack } from './stack.ts';

/**
 * `npm start`: the whole pipeline on this machine. Builds, starts Kafka and Postgres
 * (unless KAFKA_BROKERS / DATABASE_URL point elsewhere), migrates, starts the four
 * services, and stops everything it started on Ctrl-C.
 */

const dataDir = `${ROOT}.data/dev`;
const logDir = `${dataDir}/logs`;

/** A development credential kept under .data/ (git-ignored), made once. */
function devSecret(file: string, make: () => string): string {
  const path = `${dataDir}/${file}`;
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

async function main(): Promise<void> {
  build();
  mkdirSync(logDir, { recursive: true });
  const stack = await startStack({
    dataDir,
    kafkaPort: 9092,
    kafkaControllerPort: 9093,
    postgresPort: 5433,
  });
  const running: ChildProcess[] = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping services');
    await Promise.all(running.map((child) => stopChild(child)));
    say('stopping Kafka and Postgres');
    await stack.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stack.env,
      NODE_ENV: process.env.NODE_ENV ?? 'development',
      ADMIN_TOKEN:
        process.env.ADMIN_TOKEN ??
        devSecret('admin-token', () => randomBytes(32).toString('base64url')),
      SECRET_ENCRYPTION_KEY:
        process.env.SECRET_ENCRYPTION_KEY ??
        devSecret('secret-encryption-key', () => `dev:${randomBytes(32).toString('base64')}`),
      // Local receivers are plain http on loopback; each service logs a warning about it.
      ALLOW_HTTP_ENDPOINTS: process.env.ALLOW_HTTP_ENDPOINTS ?? 'true',
      ENDPOINT_ALLOWED_NETWORKS: process.env.ENDPOINT_ALLOWED_NETWORKS ?? '127.0.0.0/8,::1/128',
    };
    step('migrate', process.execPath, ['apps/subscription-api/dist/migrate.js'], env);
    running.push(
      ...(await startServices({
        env,
        logDir,
        onExit: (name, code) => {
          if (stopping) return;
          say(`${name} exited unexpectedly (code ${code}); see ${logDir}/${name}.log`);
          void shutdown(1);
        },
      })),
    );
    say('all four services are ready');
    process.stdout.write(
      [
        '',
        'Hookpost is running.',
        `  REST API      http://127.0.0.1:3000/v1`,
        `  Admin token   ${env.ADMIN_TOKEN}   (ADMIN_TOKEN; stored in .data/dev/admin-token)`,
        `  Kafka         ${stack.env.KAFKA_BROKERS}   produce mail events to the topic mail-events`,
        `  Health        http://127.0.0.1:{3000,3001,3002,3003}/health/ready and /metrics`,
        `  Logs          ${logDir}/<service>.log`,
        '  Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    say((error as Error).message);
    await shutdown(1);
  }
}

main().catch((error: Error) => {
  say(error.message);
  process.exit(1);
});
