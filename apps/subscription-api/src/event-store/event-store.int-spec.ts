import { createKafka, ensureTopics, highWatermarks, KafkaProducer } from '@hookpost/platform';
import {
  createSubscriptionCommand,
  scratchDatabase,
  type ScratchDatabase,
} from '@hookpost/testing';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, migrate } from '../database/data-source.js';
import { enqueue, OutboxRelay } from './outbox.js';
import { executeCommand, loadSubscription } from './subscription-store.js';

/** The event store and its outbox relay against a real Postgres (a database of its own) and Kafka. */
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS: run with npm test');

/** The changes these tests make are the operator's. */
const TEST_ACTOR = { kind: 'operator' } as const;

const logger = pino({ level: 'silent' });
const kafka = createKafka(
  { brokers: brokers.split(','), clientId: 'outbox-int-test', ssl: false },
  logger,
);
const producer = new KafkaProducer(kafka, logger);
const topic = `int-test-outbox-${randomUUID()}`;
let database: ScratchDatabase;
let dataSource: DataSource;

beforeAll(async () => {
  database = await scratchDatabase('outbox');
  dataSource = createDataSource(database.url, 4);
  await dataSource.initialize();
  await migrate(dataSource);
  await producer.connect();
  await ensureTopics(kafka, [{ topic }], { partitions: 1, replicationFactor: 1 }, logger);
});

afterAll(async () => {
  await producer.disconnect();
  await dataSource?.destroy();
  await database?.drop();
});

describe('OutboxRelay', () => {
  it("sends a change before answering, also while another replica's relay holds the lock", async () => {
    const relay = new OutboxRelay(dataSource, producer, logger);
    // Another replica mid-batch: its batch was chosen before this change committed.
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    await other.query('BEGIN');
    await other.query('SELECT pg_advisory_xact_lock(7460915311)');
    await dataSource.transaction((manager) =>
      enqueue(manager, [{ topic, key: 'wh_1', value: { version: 1 } }]),
    );
    const released = new Promise((resolve) => setTimeout(resolve, 300)).then(() =>
      other.query('COMMIT'),
    );

    const started = Date.now();
    await relay.kickAndWait(2_000);
    const waited = Date.now() - started;
    await released;
    await other.end();

    expect(waited).toBeGreaterThanOrEqual(250);
    const [left] = (await dataSource.query('SELECT count(*)::int AS count FROM outbox')) as Array<{
      count: number;
    }>;
    expect(left?.count).toBe(0);
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    const offsets = await highWatermarks(kafkaAdmin, topic);
    await kafkaAdmin.disconnect();
    expect(offsets.get(0)).toBe(1n);
    await relay.beforeApplicationShutdown();
  });
});

/** A subscription of org_1 to create, scoped to `domains` if given. */
const createCommand = (id: string, domains: string[] = []) =>
  createSubscriptionCommand(id, 'org_1', { scope: { domains, mailboxes: [] } });

describe('executeCommand', () => {
  it('refuses, as not found, a change the caller may not make to the state it is decided on', async () => {
    const id = `wh_${Date.now().toString(36)}`;
    await executeCommand(dataSource, id, createCommand(id, ['elsewhere.example']), {
      organizationId: 'org_1',
      actor: TEST_ACTOR,
    });
    // A scoped key checked the subscription before; meanwhile it moved out of its reach.
    const covers = (state: { scope: { domains: string[] } }) =>
      state.scope.domains.includes('mine.example');
    await expect(
      executeCommand(
        dataSource,
        id,
        { type: 'pause' },
        { organizationId: 'org_1', actor: TEST_ACTOR, mayChange: covers },
      ),
    ).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const state = await dataSource.transaction((manager) => loadSubscription(manager, id));
    expect(state).toMatchObject({ status: 'active', version: 1 });
    // Another organisation's key is refused the same way.
    await expect(
      executeCommand(
        dataSource,
        id,
        { type: 'pause' },
        { organizationId: 'org_2', actor: TEST_ACTOR },
      ),
    ).rejects.toMatchObject({ status: 404 });
  });
  it('clears the failure streak in the transaction that resumes, not after it', async () => {
    const id = `wh_resume_${Date.now().toString(36)}`;
    const options = { organizationId: 'org_1', actor: TEST_ACTOR };
    await executeCommand(dataSource, id, createCommand(id), options);
    await dataSource.query(
      `INSERT INTO subscription_health (subscription_id, consecutive_failures, last_attempt_at)
       VALUES ($1, 10, now())`,
      [id],
    );
    await executeCommand(dataSource, id, { type: 'mark_failed', afterFailures: 10 }, options);
    // The attempt log holds the streak's row (recording a failure) while the user resumes.
    const recorder = new pg.Client({ connectionString: database.url });
    await recorder.connect();
    await recorder.query('BEGIN');
    await recorder.query(
      'SELECT 1 FROM subscription_health WHERE subscription_id = $1 FOR UPDATE',
      [id],
    );
    const resumed = executeCommand(dataSource, id, { type: 'resume' }, options);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Not active yet with the old streak: both wait for the row, and come together.
    const status = async () =>
      (
        (await dataSource.query('SELECT status FROM subscriptions WHERE id = $1', [id])) as Array<{
          status: string;
        }>
      )[0]!.status;
    expect(await status()).toBe('failed');
    await recorder.query('COMMIT');
    await recorder.end();
    await resumed;
    expect(await status()).toBe('active');
    const [health] = (await dataSource.query(
      'SELECT consecutive_failures FROM subscription_health WHERE subscription_id = $1',
      [id],
    )) as Array<{ consecutive_failures: number }>;
    expect(health!.consecutive_failures).toBe(0);
  });
  it('marks failed on the streak as it stands, not as it was when the failures were counted', async () => {
    const id = `wh_stale_${Date.now().toString(36)}`;
    const options = { organizationId: 'org_1', actor: TEST_ACTOR };
    await executeCommand(dataSource, id, createCommand(id), options);
    const markFailed = { type: 'mark_failed', afterFailures: 10 } as const;
    // What the attempts consumer commits before it sends its commands.
    const streak = (failures: number) =>
      dataSource.query(
        `INSERT INTO subscription_health (subscription_id, consecutive_failures, last_attempt_at)
         VALUES ($1, $2, now())
         ON CONFLICT (subscription_id) DO UPDATE SET consecutive_failures = EXCLUDED.consecutive_failures`,
        [id, failures],
      );
    const status = async () =>
      (await dataSource.transaction((manager) => loadSubscription(manager, id)))!.status;

    await streak(10);
    await executeCommand(dataSource, id, markFailed, options);
    expect(await status()).toBe('failed');
    // Retries already on their way fail too, and the consumer decides to mark it failed
    // again; the owner resumes it before that command runs.
    await streak(12);
    await executeCommand(dataSource, id, { type: 'resume' }, options);
    const late = await executeCommand(dataSource, id, markFailed, options);
    expect(late.appended).toBe(false);
    expect(await status()).toBe('active');
    // Failing as many times again after the resume marks it failed again.
    await streak(10);
    await executeCommand(dataSource, id, markFailed, options);
    expect(await status()).toBe('failed');
  });
});
