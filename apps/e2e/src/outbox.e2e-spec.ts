import { freePort, REPO_ROOT, startService, type RunningService } from '@hookpost/testing';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, kcatConsume, requireEnv } from './pipeline.js';

/**
 * A change made while Kafka is down is kept in the outbox and published when Kafka is
 * back: subscription-api on a broker of its own, which the test stops and starts. And
 * every service still exits promptly on SIGTERM while that broker and the database are gone.
 */
describe('outbox while Kafka is down', () => {
  const dataDir = `${requireEnv('HOOKPOST_TEST_DIR')}/outbox-kafka-${Date.now()}`;
  const database = `hookpost_outbox_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  let ports: [number, number];
  let broker: ChildProcess | undefined;
  let brokers = '';
  let api: RunningService | undefined;
  let env: Record<string, string>;
  let db: pg.Client | undefined;
  const adminToken = randomBytes(32).toString('base64url');

  async function startBroker(): Promise<void> {
    broker = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        `${REPO_ROOT}tools/infra/kafka-run.ts`,
        dataDir,
        String(ports[0]),
        String(ports[1]),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    brokers = await new Promise<string>((resolve, reject) => {
      broker!.stdout!.on('data', (chunk: Buffer) => {
        const match = /ready (\S+)/.exec(chunk.toString());
        if (match) resolve(match[1]!);
      });
      broker!.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    });
  }
  async function stopBroker(): Promise<void> {
    const exited = new Promise((resolve) => broker!.once('exit', resolve));
    broker!.kill('SIGTERM');
    await exited;
    broker = undefined;
  }
  const outboxRows = async () =>
    Number((await db!.query<{ n: string }>('SELECT count(*) AS n FROM outbox')).rows[0]!.n);

  beforeAll(async () => {
    ports = [await freePort(), await freePort()];
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(requireEnv('DATABASE_URL'));
    url.pathname = `/${database}`;
    await startBroker();
    env = {
      NODE_ENV: 'test',
      KAFKA_BROKERS: brokers,
      DATABASE_URL: url.toString(),
      ADMIN_TOKEN: adminToken,
      SECRET_ENCRYPTION_KEY: `test:${randomBytes(32).toString('base64')}`,
      ALLOW_HTTP_ENDPOINTS: 'true',
      ENDPOINT_ALLOWED_NETWORKS: '127.0.0.1/32',
      KAFKA_TOPIC_PARTITIONS: '1',
      GRPC_PORT: String(await freePort()),
    };
    const migrate = spawnSync(
      process.execPath,
      [`${REPO_ROOT}apps/subscription-api/dist/migrate.js`],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
    );
    expect(migrate.status, migrate.stderr).toBe(0);
    api = await startService('subscription-api', env, {
      port: await freePort(),
      logDir: `${dataDir}/logs`,
    });
    db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
  });

  afterAll(async () => {
    await api?.stop('SIGKILL');
    if (broker) await stopBroker();
    await db?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('keeps the change while Kafka is stopped, and sends it after', async () => {
    const apiUrl = `http://127.0.0.1:${api!.port}`;
    const org = await http('POST', `${apiUrl}/v1/organizations`, adminToken, { name: 'Outbox' });
    const key = await http(
      'POST',
      `${apiUrl}/v1/organizations/${org.json.id}/api-keys`,
      adminToken,
    );
    // Everything so far has reached Kafka.
    for (let i = 0; i < 50 && (await outboxRows()) > 0; i++) await sleep(100);
    expect(await outboxRows()).toBe(0);

    await stopBroker();
    const created = await http('POST', `${apiUrl}/v1/webhooks`, key.json.key as string, {
      url: 'http://127.0.0.1:9/outbox',
      events: ['message.delivered'],
    });
    // The API answers; the change waits in the outbox.
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    await sleep(2_000);
    expect(await outboxRows()).toBeGreaterThan(0);

    await startBroker();
    const deadline = Date.now() + 60_000;
    while ((await outboxRows()) > 0 && Date.now() < deadline) await sleep(250);
    expect(await outboxRows()).toBe(0);
    const states = kcatConsume(brokers, 'hookpost.subscription-state.v1');
    expect(states.map((m) => m.key)).toContain(id);
    const history = kcatConsume(brokers, 'hookpost.subscription-events.v1');
    expect(history.some((m) => m.key === id && m.value.includes('subscription.created'))).toBe(
      true,
    );
  });

  it('exits within 10 s of SIGTERM while Kafka and Postgres are unreachable, every service', async () => {
    const others = await Promise.all(
      (['event-ingest', 'matcher', 'deliverer'] as const).map(async (name) =>
        startService(name, env, { port: await freePort(), logDir: `${dataDir}/logs` }),
      ),
    );
    const services = [api!, ...others];
    await stopBroker();
    // And the database: no new connection, and the open ones cut (this test's own first).
    await db!.end();
    db = undefined;
    await admin.query(`ALTER DATABASE ${database} CONNECTION LIMIT 0`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      database,
    ]);
    // Long enough for every client to notice and start retrying.
    await sleep(3_000);
    const exits = await Promise.all(
      services.map(async (service) => {
        const sent = Date.now();
        await service.stop('SIGTERM');
        return { name: service.name, ms: Date.now() - sent };
      }),
    );
    for (const { name, ms } of exits) expect(ms, `${name} took ${ms} ms`).toBeLessThan(10_000);
  });
});
