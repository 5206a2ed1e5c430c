import type { SubscriptionState } from '@hookpost/contracts';
import { RecordingReceiver, REPO_ROOT, standardWebhookHeaders } from '@hookpost/testing';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deliveredEvent,
  http,
  kcatConsume,
  kcatProduce,
  requireEnv,
  startPipeline,
  type Pipeline,
} from './pipeline.js';

/**
 * Rotating SECRET_ENCRYPTION_KEY: a new key goes first, the re-encryption command moves
 * every stored secret and custom headers under it, and then the old key can be removed
 * with nothing lost. Runs on a database of its own, so that only its own secrets are in
 * the store.
 */
describe('SECRET_ENCRYPTION_KEY rotation', () => {
  const run = Date.now().toString(36);
  const oldKey = `k1:${randomBytes(32).toString('base64')}`;
  const newKey = `k2:${randomBytes(32).toString('base64')}`;
  const database = `hookpost_rotation_${run}`;
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  const receiver = new RecordingReceiver();
  let databaseUrl: string;
  let pipeline: Pipeline;
  // The first test's webhook, which the second delivers to again.
  let webhook: { id: string; secret: string; organizationId: string; apiKey: string };

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(requireEnv('DATABASE_URL'));
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
    await receiver.start();
    pipeline = await startPipeline({ DATABASE_URL: databaseUrl, SECRET_ENCRYPTION_KEY: oldKey });
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  const reencrypt = (keyring: string) =>
    spawnSync(process.execPath, [`${REPO_ROOT}apps/subscription-api/dist/reencrypt-secrets.js`], {
      env: { ...process.env, DATABASE_URL: databaseUrl, SECRET_ENCRYPTION_KEY: keyring },
      encoding: 'utf8',
    });

  it('re-encrypts every stored secret and header under the new key, after which the old key can go', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Rotation Co',
    });
    const organizationId = org.json.id as string;
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
      pipeline.adminToken,
    );
    const apiKey = key.json.key as string;
    // Receiver credentials in custom headers are as secret as the signing secret.
    const firstToken = `tok_${randomBytes(16).toString('hex')}`;
    const token = `tok_${randomBytes(16).toString('hex')}`;
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}/rotation`,
      events: ['message.delivered'],
      headers: { Authorization: `Bearer ${firstToken}`, 'X-Team': 'rotation' },
    });
    const id = created.json.id as string;
    expect(created.json.headers).toEqual({
      Authorization: `Bearer ${firstToken}`,
      'X-Team': 'rotation',
    });
    const updated = await http('PATCH', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(updated.json.headers).toEqual({ Authorization: `Bearer ${token}` });
    const firstSecret = created.json.secret as string;
    // Two rotations within the overlap: all three secrets sign.
    const rotate = async () =>
      (await http('POST', `${pipeline.apiUrl}/v1/webhooks/${id}/rotate-secret`, apiKey, {})).json
        .secret as string;
    const middleSecret = await rotate();
    const secret = await rotate();
    webhook = { id, secret, organizationId, apiKey };

    const first = reencrypt(`${newKey},${oldKey}`);
    expect(first.status, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toContain('"reencrypted":1');
    expect(first.stdout + first.stderr).not.toContain(secret);
    const stored = new pg.Client({ connectionString: databaseUrl });
    await stored.connect();
    const [row] = (
      await stored.query<{ state: SubscriptionState }>(
        'SELECT state FROM subscriptions WHERE id = $1',
        [id],
      )
    ).rows;
    await stored.end();
    expect(row!.state.secret).toMatch(/^v1\.k2\./);
    expect(row!.state.previousSecret?.secret).toMatch(/^v1\.k2\./);
    expect(row!.state.olderSecrets?.map((s) => s.secret)).toEqual([
      expect.stringMatching(/^v1\.k2\./),
    ]);
    expect(row!.state.headers).toMatch(/^v1\.k2\./);
    // Nothing left under the old key: a second run changes nothing.
    expect(reencrypt(`${newKey},${oldKey}`).stdout).toContain('"reencrypted":0');

    // The old key removed: the deliverer still signs with every secret of the overlap,
    // and the API, which decrypts the headers it answers with, still reads them.
    await sleep(1_000);
    await pipeline.restart('deliverer', 'SIGTERM', { SECRET_ENCRYPTION_KEY: newKey });
    await pipeline.restart('subscription-api', 'SIGTERM', { SECRET_ENCRYPTION_KEY: newKey });
    await kcatProduce(pipeline.brokers, 'mail-events', [
      deliveredEvent(`evt_rotation_${run}`, organizationId, { message_id: `rotation-${run}` }),
    ]);
    const [request] = await receiver.waitFor((r) => r.path === '/rotation', 1, 30_000);
    const headers = standardWebhookHeaders(request!);
    expect(new Webhook(secret).verify(request!.body, headers)).toBeTruthy();
    expect(new Webhook(middleSecret).verify(request!.body, headers)).toBeTruthy();
    expect(new Webhook(firstSecret).verify(request!.body, headers)).toBeTruthy();
    expect(request!.headers.authorization).toBe(`Bearer ${token}`);

    // The organisation reads its headers back as it set them; no later response holds a
    // secret, and no table, no topic and no log holds a secret, a header's token or the
    // API key.
    const got = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey);
    const listed = await http('GET', `${pipeline.apiUrl}/v1/webhooks`, apiKey);
    expect(got.json.headers).toEqual({ Authorization: `Bearer ${token}` });
    expect(listed.json.data).toEqual([
      expect.objectContaining({ id, headers: { Authorization: `Bearer ${token}` } }),
    ]);
    const secrets = [firstSecret, middleSecret, secret, apiKey];
    const plain = [...secrets, firstToken, token];
    const leaks = (where: string, text: string, among = plain) =>
      among.filter((p) => text.includes(p)).map(() => where);
    const found = [
      ...leaks('GET response', JSON.stringify(got.json), secrets),
      ...leaks('list response', JSON.stringify(listed.json), secrets),
    ];
    const scan = new pg.Client({ connectionString: databaseUrl });
    await scan.connect();
    const tables = (
      await scan.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
      )
    ).rows.map((r) => r.table_name);
    for (const table of tables) {
      const rows = await scan.query(`SELECT * FROM "${table}"`);
      found.push(...leaks(`table ${table}`, JSON.stringify(rows.rows)));
    }
    await scan.end();
    for (const topic of [
      'hookpost.subscription-events.v1',
      'hookpost.subscription-state.v1',
      'hookpost.organization-events.v1',
      'hookpost.delivery-jobs.v1',
      'hookpost.delivery-attempts.v1',
      'hookpost.events.v1',
    ]) {
      found.push(...leaks(`topic ${topic}`, JSON.stringify(kcatConsume(pipeline.brokers, topic))));
    }
    for (const file of readdirSync(pipeline.logDir)) {
      found.push(...leaks(`log ${file}`, readFileSync(`${pipeline.logDir}/${file}`, 'utf8')));
    }
    expect(tables).toEqual(expect.arrayContaining(['subscription_events', 'api_keys', 'outbox']));
    expect(found).toEqual([]);
  });

  it('puts off what it cannot sign, without failing it, and delivers it once it has the key', async () => {
    const { id, secret, organizationId, apiKey } = webhook;
    // A deliverer given a keyring without the key the secrets are stored under.
    const schedule = { RETRY_SCHEDULE: '2s,4s' };
    const wrongKey = `k3:${randomBytes(32).toString('base64')}`;
    await pipeline.restart('deliverer', 'SIGTERM', {
      SECRET_ENCRYPTION_KEY: wrongKey,
      ...schedule,
    });
    const eventId = `evt_unsignable_${run}`;
    await kcatProduce(pipeline.brokers, 'mail-events', [
      deliveredEvent(eventId, organizationId, { message_id: `unsignable-${run}` }),
    ]);
    await sleep(8_000);
    const arrived = () => receiver.requests.filter((r) => r.body.includes(eventId));
    expect(arrived()).toEqual([]);
    const logs = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}/logs`, apiKey);
    expect(JSON.stringify(logs.json)).not.toContain(eventId);
    const state = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey);
    expect(state.json.status).toBe('active');
    const delivererLog = readdirSync(pipeline.logDir)
      .filter((file) => file.startsWith('deliverer'))
      .map((file) => readFileSync(`${pipeline.logDir}/${file}`, 'utf8'))
      .join('');
    expect(delivererLog).toContain('signing secret could not be decrypted; delivery put off');

    await pipeline.restart('deliverer', 'SIGTERM', { SECRET_ENCRYPTION_KEY: newKey, ...schedule });
    await receiver.waitFor((r) => r.body.includes(eventId), 1, 30_000);
    const [request] = arrived();
    expect(
      new Webhook(secret).verify(request!.body, standardWebhookHeaders(request!)),
    ).toBeTruthy();
  });
});
