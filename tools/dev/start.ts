import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from './build.ts';
import { ROOT, say, spawnChild, step, stopChild } from './processes.ts';
import { startStack } from './stack.ts';

/**
 * `npm start`: the whole pipeline on this machine. Builds, starts Kafka and Postgres
 * (unless KAFKA_BROKERS / DATABASE_URL point elsewhere), migrates, starts the four
 * services, and stops everything it started on Ctrl-C.
 */

const SERVICES = [
  { name: 'subscription-api', port: 3000 },
  { name: 'event-ingest', port: 3001 },
  { name: 'matcher', port: 3002 },
  { name: 'deliverer', port: 3003 },
] as const;

const dataDir = `${ROOT}.data/dev`;
const logDir = `${dataDir}/logs`;

/** A development credential kept under .data/ (git-ignored), made once. */
function devSecret(file: string, make: () => string): string {
  const path = `${dataDir}/${file}`;
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

async function waitReady(name: string, port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited (code ${child.exitCode}); see ${logDir}/${name}.log`);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await sleep(300);
  }
  throw new Error(`${name} not ready after 120 s; see ${logDir}/${name}.log`);
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
    for (const service of SERVICES) {
      const log = createWriteStream(`${logDir}/${service.name}.log`, { flags: 'a' });
      const child = spawnChild(
        process.execPath,
        ['--max-semi-space-size=8', `apps/${service.name}/dist/main.js`],
        {
          cwd: ROOT,
          env: { ...env, PORT: String(service.port) },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      child.once('exit', (code) => {
        if (!stopping) {
          say(
            `${service.name} exited unexpectedly (code ${code}); see ${logDir}/${service.name}.log`,
          );
          void shutdown(1);
        }
      });
      running.push(child);
    }
    await Promise.all(
      SERVICES.map((service, i) => waitReady(service.name, service.port, running[i]!)),
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
