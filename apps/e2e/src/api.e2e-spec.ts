import { REPO_ROOT } from '@hookpost/testing';
import { spawnSync } from 'node:child_process';
import { Agent, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, TOPICS, type AttemptEvent } from '@hookpost/contracts';
import {
  http,
  kcatConsume,
  kcatProduce,
  requireEnv,
  startPipeline,
  type Pipeline,
} from './pipeline.js';

/** subscription-api routes beyond the webhooks themselves. */
describe('subscription-api', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let organizationId: string;
  const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });

  beforeAll(async () => {
    pipeline = await startPipeline({ DELIVERY_LOG_RETENTION: '4s' });
    await db.connect();
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Catalogue Co',
    });
    organizationId = org.json.id as string;
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
      pipeline.adminToken,
    );
    apiKey = key.json.key as string;
  });

  afterAll(async () => {
    await db.end();
    await pipeline?.stop();
  });

  it('serves the event catalogue with a JSON Schema per type, page by page', async () => {
    const all = await http('GET', `${pipeline.apiUrl}/v1/event-types?limit=100`, apiKey);
    expect(all.status).toBe(200);
    const types = all.json.data as Array<{
      name: string;
      description: string;
      aliases: string[];
      schema: { type?: string; properties?: Record<string, unknown> };
    }>;
    expect(types.map((t) => t.name)).toEqual(
      expect.arrayContaining(['message.delivered', 'message.bounced', 'message.received']),
    );
    expect(all.json.next_cursor).toBeNull();
    for (const type of types) {
      expect(type.description.length, type.name).toBeGreaterThan(0);
      expect(type.schema.type, type.name).toBe('object');
    }
    const delivered = types.find((t) => t.name === 'message.delivered')!;
    expect(delivered.aliases).toEqual(
      expect.arrayContaining(['api_mail_log_delivered', 'MessageSent']),
    );
    // The schema of the webhook body: the envelope, and `data` with its canonical fields.
    const properties = delivered.schema.properties as Record<
      string,
      { properties?: Record<string, unknown> }
    >;
    expect(Object.keys(properties)).toEqual(['id', 'type', 'timestamp', 'data']);
    expect(Object.keys(properties.data?.properties ?? {})).toEqual(
      expect.arrayContaining(['message_id', 'from', 'to']),
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await http(
        'GET',
        `${pipeline.apiUrl}/v1/event-types?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
        apiKey,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.json.data as Array<{ name: string }>).map((t) => t.name));
      cursor = page.json.next_cursor as string | null;
    } while (cursor);
    expect(seen).toEqual(types.map((t) => t.name));

    const bad = await http('GET', `${pipeline.apiUrl}/v1/event-types?cursor=nope`, apiKey);
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.json)).toContain('cursor');
    const anonymous = await http('GET', `${pipeline.apiUrl}/v1/event-types`, 'not-a-key');
    expect(anonymous.status).toBe(401);
  });

  it('keeps an idle connection open longer than a proxy in front of it would (60 s)', async () => {
    // One connection, kept alive: the second request must go out on the first one's socket.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const request = () =>
      new Promise<{ response: IncomingMessage; reused: boolean }>((resolve, reject) => {
        const sent = get(
          `${pipeline.apiUrl}/v1/event-types?limit=1`,
          { agent, headers: { authorization: `Bearer ${apiKey}` } },
          (response) => {
            response.resume();
            response.on('end', () => resolve({ response, reused: sent.reusedSocket }));
          },
        );
        sent.on('error', reject);
      });
    try {
      const first = await request();
      expect(first.response.statusCode).toBe(200);
      expect(first.response.headers['keep-alive']).toBe('timeout=65');
      // Longer than Node's default of 5 s, after which the service would have closed it.
      await sleep(6_000);
      const second = await request();
      expect(second.response.statusCode).toBe(200);
      expect(second.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('rebuilds the read model from the event store, equal to the live one', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Rebuild Co',
    });
    const organizationId = org.json.id as string;
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
      pipeline.adminToken,
    );
    const orgKey = key.json.key as string;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, orgKey, {
        url: `http://127.0.0.1:9/rebuild/${i}`,
        events: ['message.delivered'],
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      ids.push(created.json.id as string);
    }
    const url = (id: string, path = '') => `${pipeline.apiUrl}/v1/webhooks/${id}${path}`;
    await http('PATCH', url(ids[0]!), orgKey, { events: ['message.*'], description: 'changed' });
    await http('POST', url(ids[1]!, '/pause'), orgKey);
    await http('POST', url(ids[2]!, '/rotate-secret'), orgKey, {});
    await http('DELETE', url(ids[3]!), orgKey);

    const snapshot = async () =>
      (
        await db.query(
          `SELECT id, state, status, version, deleted, created_at, updated_at FROM subscriptions
           WHERE organization_id = $1 ORDER BY id`,
          [organizationId],
        )
      ).rows;
    const live = await snapshot();
    expect(live).toHaveLength(4);
    // Damage the read model: a lost row and a wrong one.
    await db.query('DELETE FROM subscriptions WHERE id = $1', [ids[0]]);
    await db.query(`UPDATE subscriptions SET status = 'active', version = 1 WHERE id = $1`, [
      ids[1],
    ]);
    expect(await snapshot()).not.toEqual(live);

    const rebuild = spawnSync(
      process.execPath,
      [`${REPO_ROOT}apps/subscription-api/dist/rebuild-projections.js`],
      { env: { ...process.env, DATABASE_URL: requireEnv('DATABASE_URL') }, encoding: 'utf8' },
    );
    expect(rebuild.status, rebuild.stderr + rebuild.stdout).toBe(0);
    expect(rebuild.stdout).toContain('subscription read model rebuilt');
    expect(await snapshot()).toEqual(live);

    // With --republish, the organisations go to their topic again too (event-ingest's
    // only source of them), as they are now: a deleted one as deleted.
    const gone = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Gone Co',
    });
    const goneId = gone.json.id as string;
    expect(
      (await http('DELETE', `${pipeline.apiUrl}/v1/organizations/${goneId}`, pipeline.adminToken))
        .status,
    ).toBe(204);
    const published = (id = organizationId) =>
      kcatConsume(pipeline.brokers, TOPICS.organizationEvents).filter((m) => m.key === id);
    expect(published()).toHaveLength(1);
    expect(published(goneId)).toHaveLength(2);
    const republish = spawnSync(
      process.execPath,
      [`${REPO_ROOT}apps/subscription-api/dist/rebuild-projections.js`, '--republish'],
      { env: { ...process.env, DATABASE_URL: requireEnv('DATABASE_URL') }, encoding: 'utf8' },
    );
    expect(republish.status, republish.stderr + republish.stdout).toBe(0);
    const deadline = Date.now() + 10_000;
    while (published().length < 2 && Date.now() < deadline) await sleep(250);
    const [created, again] = published().map((m) => JSON.parse(m.value) as Record<string, unknown>);
    expect(again).toMatchObject({
      type: 'organization.updated',
      organizationId,
      occurredAt: created!.occurredAt,
      data: { name: 'Rebuild Co', domains: [] },
    });
    while (published(goneId).length < 3 && Date.now() < deadline) await sleep(250);
    expect(published(goneId).map((m) => (JSON.parse(m.value) as { type: string }).type)).toEqual([
      'organization.created',
      'organization.deleted',
      'organization.deleted',
    ]);
  });

  it('serves a complete OpenAPI description at /docs, every route of it real', async () => {
    const ui = await fetch(`${pipeline.apiUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
    const response = await fetch(`${pipeline.apiUrl}/docs/openapi.json`);
    expect(response.status).toBe(200);
    type Operation = {
      responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
      requestBody?: {
        required: boolean;
        content: Record<string, { example?: unknown; schema?: unknown }>;
      };
      security?: unknown[];
    };
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ method, path, operation })),
    );
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(
      [
        'POST /v1/organizations',
        'GET /v1/organizations',
        'GET /v1/organizations/{id}',
        'PATCH /v1/organizations/{id}',
        'DELETE /v1/organizations/{id}',
        'GET /v1/organizations/{id}/api-keys',
        'POST /v1/organizations/{id}/api-keys',
        'DELETE /v1/organizations/{id}/api-keys/{keyId}',
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'GET /v1/webhooks/{id}',
        'PATCH /v1/webhooks/{id}',
        'PUT /v1/webhooks/{id}',
        'DELETE /v1/webhooks/{id}',
        'POST /v1/webhooks/{id}/pause',
        'POST /v1/webhooks/{id}/resume',
        'POST /v1/webhooks/{id}/rotate-secret',
        'POST /v1/webhooks/{id}/test',
        'GET /v1/webhooks/{id}/logs',
        'GET /v1/webhooks/{id}/stats',
        'GET /v1/webhooks/{id}/history',
        'POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry',
        'POST /v1/webhooks/{id}/replay',
        'GET /v1/event-types',
        'GET /v1/messages/{messageId}/events',
        'DELETE /v1/messages/{messageId}/events',
      ].sort(),
    );
    for (const { method, path, operation } of operations) {
      const name = `${method} ${path}`;
      expect(
        Object.keys(operation.responses).some((s) => s.startsWith('2')),
        name,
      ).toBe(true);
      expect(operation.responses['401']?.content?.['application/json']?.schema?.$ref, name).toBe(
        '#/components/schemas/Error',
      );
      if (operation.requestBody) {
        expect(operation.requestBody.content['application/json']?.example, name).toBeDefined();
        expect(operation.requestBody.content['application/json']?.schema, name).toBeDefined();
        // A body of optional fields alone may be left out, as the API takes it.
        const optional = [
          'post /v1/webhooks/{id}/test',
          'post /v1/webhooks/{id}/rotate-secret',
          'post /v1/organizations/{id}/api-keys',
          'patch /v1/webhooks/{id}',
          'put /v1/webhooks/{id}',
          'patch /v1/organizations/{id}',
        ];
        expect(operation.requestBody.required, name).toBe(!optional.includes(name));
      }
      // The route exists: without credentials it answers 401, not "no such route".
      const concrete = path
        .replace(
          '{id}',
          path.startsWith('/v1/organizations')
            ? 'org_01ZZZZZZZZZZZZZZZZZZZZZZZZ'
            : 'wh_01ZZZZZZZZZZZZZZZZZZZZZZZZ',
        )
        .replace('{keyId}', 'key_01ZZZZZZZZZZZZZZZZZZZZZZZZ')
        .replace('{deliveryId}', 'del_01ZZZZZZZZZZZZZZZZZZZZZZZZ')
        .replace('{messageId}', 'm1');
      const probe = await fetch(`${pipeline.apiUrl}${concrete}`, {
        method: method.toUpperCase(),
        headers: { 'content-type': 'application/json' },
        body: ['post', 'put', 'patch'].includes(method) ? '{}' : undefined,
      });
      expect(probe.status, name).toBe(401);
    }
  });

  it('detects concurrent changes: a stale If-Match is 412, a lost race is 409, nothing is lost', async () => {
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://127.0.0.1:9/concurrency',
      events: ['message.delivered'],
    });
    const url = `${pipeline.apiUrl}/v1/webhooks/${created.json.id as string}`;
    const patch = (body: unknown, ifMatch?: string) =>
      fetch(url, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          ...(ifMatch ? { 'if-match': ifMatch } : {}),
        },
        body: JSON.stringify(body),
      });
    expect((await patch({ description: 'first' }, '"1"')).status).toBe(200);
    const stale = await patch({ description: 'stale' }, '"1"');
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe(
      'version_mismatch',
    );

    // Twelve writers at once, none with If-Match: each either lands or is told 409.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => patch({ description: `writer ${i}` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    const landed = statuses.filter((s) => s === 200).length;
    expect(landed).toBeGreaterThan(0);
    const after = await http('GET', url, apiKey);
    // Version 2 after the first patch, one more per change that landed: no lost update.
    expect(after.json.version).toBe(2 + landed);
    const events = await db.query<{ version: number }>(
      'SELECT version FROM subscription_events WHERE subscription_id = $1 ORDER BY version',
      [created.json.id],
    );
    expect(events.rows.map((r) => r.version)).toEqual(
      Array.from({ length: 2 + landed }, (_, i) => i + 1),
    );
  });

  it('keeps the metadata a webhook is given, replaces it whole, and names what is wrong with it', async () => {
    const webhooks = `${pipeline.apiUrl}/v1/webhooks`;
    const created = await http('POST', webhooks, apiKey, {
      url: 'http://127.0.0.1:9/metadata',
      events: ['message.delivered'],
      metadata: { customer_id: 'cus_4821', team: 'mail' },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.metadata).toEqual({ customer_id: 'cus_4821', team: 'mail' });
    const url = `${webhooks}/${created.json.id as string}`;
    // Another change leaves it; the same map again is no change (no new version).
    expect((await http('PATCH', url, apiKey, { description: 'x' })).json).toMatchObject({
      metadata: { customer_id: 'cus_4821', team: 'mail' },
      version: 2,
    });
    expect(
      (await http('PATCH', url, apiKey, { metadata: { team: 'mail', customer_id: 'cus_4821' } }))
        .json.version,
    ).toBe(2);
    expect((await http('PATCH', url, apiKey, { metadata: { team: 'ops' } })).json).toMatchObject({
      metadata: { team: 'ops' },
      version: 3,
    });
    expect((await http('PATCH', url, apiKey, { metadata: null })).json.metadata).toEqual({});
    expect((await http('GET', url, apiKey)).json.metadata).toEqual({});

    const refused = async (metadata: unknown) => {
      const answer = await http('PATCH', url, apiKey, { metadata });
      expect(answer.status, JSON.stringify(answer.json)).toBe(422);
      return (answer.json.error as { details: Array<{ field: string; message: string }> }).details;
    };
    expect(await refused({ '': 'x' })).toEqual([
      expect.objectContaining({ field: 'metadata.', message: 'keys must not be empty' }),
    ]);
    expect(await refused({ plan: 'x'.repeat(501) })).toEqual([
      expect.objectContaining({
        field: 'metadata.plan',
        message: 'values must be at most 500 characters',
      }),
    ]);
    expect(await refused({ plan: 5 })).toEqual([
      expect.objectContaining({ field: 'metadata.plan', message: 'values must be strings' }),
    ]);
    expect(
      await refused(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))),
    ).toEqual([
      expect.objectContaining({ field: 'metadata', message: 'must hold at most 50 keys' }),
    ]);
    // Sent as JSON text, as a client would: an object literal here would lose the key first.
    const proto = await fetch(url, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"metadata": {"__proto__": "x"}}',
    });
    expect(proto.status).toBe(422);
    expect(JSON.stringify(await proto.json())).toContain('must not hold a key named __proto__');
    expect((await http('GET', url, apiKey)).json.version).toBe(4);
  });

  it("takes seed 002's update request: PUT with the events alone changes them, nothing else", async () => {
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://127.0.0.1:9/seed-002',
      events: ['message.delivered'],
      description: 'kept',
    });
    const updated = await http(
      'PUT',
      `${pipeline.apiUrl}/v1/webhooks/${created.json.id as string}`,
      apiKey,
      { events: ['delivered', 'bounced', 'complained', 'opened'] },
    );
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({
      url: 'http://127.0.0.1:9/seed-002',
      description: 'kept',
      version: 2,
    });
    expect([...(updated.json.events as string[])].sort()).toEqual([
      'message.bounced',
      'message.complained',
      'message.delivered',
      'message.opened',
    ]);
  });

  it('changes an organisation, and gives each sending domain to one organisation only', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      http(method, `${pipeline.apiUrl}${path}`, pipeline.adminToken, body);
    const run = Date.now().toString(36);
    const first = await admin('POST', '/v1/organizations', { name: 'First', domains: [] });
    const second = await admin('POST', '/v1/organizations', { name: 'Second', domains: [] });
    const firstId = first.json.id as string;

    const renamed = await admin('PATCH', `/v1/organizations/${firstId}`, { name: 'First Inc' });
    expect(renamed.status).toBe(200);
    expect(renamed.json).toMatchObject({ id: firstId, name: 'First Inc', domains: [] });
    const moved = await admin('PATCH', `/v1/organizations/${firstId}`, {
      domains: [`${run}.example`],
    });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ name: 'First Inc', domains: [`${run}.example`] });

    const taken = await admin('PATCH', `/v1/organizations/${second.json.id as string}`, {
      domains: [`${run}.example`],
    });
    expect(taken.status).toBe(409);
    expect((taken.json.error as { code: string }).code).toBe('domain_taken');
    const unknown = await admin('PATCH', `/v1/organizations/org_00000000000000000000000000`, {
      name: 'Nobody',
    });
    expect(unknown.status).toBe(404);

    // Claims of one new domain at once: exactly one lands.
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        admin('POST', '/v1/organizations', {
          name: `Claim ${i}`,
          domains: [`race-${run}.example`],
        }),
      ),
    );
    expect(claims.map((c) => c.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });

  it('disables for a 410 even when the attempt was logged before, as in a batch read again', async () => {
    // The attempt was logged, and then disabling failed (a conflict, the database away a
    // moment): the batch is read again, and what follows from it must still be done.
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://127.0.0.1:9/gone-again',
      events: ['message.delivered'],
    });
    const id = created.json.id as string;
    const run = Date.now().toString(36);
    const attempt: AttemptEvent = {
      attemptId: `att_gone_${run}`,
      deliveryId: `del_gone_${run}`,
      subscriptionId: id,
      organizationId,
      eventId: `evt_gone_${run}`,
      eventType: 'message.delivered',
      attempt: 1,
      outcome: 'failed',
      httpStatus: 410,
      durationMs: 5,
      error: 'HTTP 410',
      nextRetryAt: null,
      gone: true,
      attemptedAt: new Date().toISOString(),
    };
    await db.query(
      `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id,
         event_id, event_type, attempt, outcome, http_status, duration_ms, error, next_retry_at, attempted_at)
       VALUES ($1, $2, $3, $4, $5, 'message.delivered', 1, 'failed', 410, 5, 'HTTP 410', NULL,
         now() + interval '1 hour')`,
      [attempt.attemptId, attempt.deliveryId, id, organizationId, attempt.eventId],
    );
    await kcatProduce(pipeline.brokers, TOPICS.deliveryAttempts, [
      { key: id, value: JSON.stringify(attempt) },
    ]);
    const deadline = Date.now() + 15_000;
    let status: unknown;
    while (Date.now() < deadline) {
      status = (await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey)).json.status;
      if (status === 'disabled') break;
      await sleep(200);
    }
    expect(status).toBe('disabled');
  });

  it("answers what Node's HTTP parser refuses in the JSON error shape, naming no framework", async () => {
    const huge = await fetch(`${pipeline.apiUrl}/v1/webhooks`, {
      headers: { authorization: `Bearer ${'x'.repeat(20_000)}` },
    });
    expect(huge.status).toBe(431);
    expect(await huge.json()).toMatchObject({ error: { code: 'headers_too_large' } });

    const { hostname, port } = new URL(pipeline.apiUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write('NOT HTTP\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('{"error":{"code":"bad_request"');

    const live = await fetch(`${pipeline.apiUrl}/health/live`);
    expect(live.headers.get('x-powered-by')).toBeNull();
  });

  it("purges delivery attempts, their hourly counts, and manual retries' numbers, older than DELIVERY_LOG_RETENTION", async () => {
    const run = Date.now().toString(36);
    const insert = (id: string, age: string) =>
      db.query(
        `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id,
           event_id, event_type, attempt, outcome, http_status, duration_ms, error, next_retry_at, attempted_at)
         VALUES ($1, 'del_x', $1, 'org_x', 'evt_x', 'message.delivered', 1, 'succeeded', 200, 5,
           NULL, NULL, now() - $2::interval)`,
        [id, age],
      );
    // An hour's counts go once all of the hour is past the retention: the attempt of an
    // hour ago may share its hour with one the log still keeps, the one of three may not.
    await insert(`att_old_${run}`, '1 hour');
    await insert(`att_older_${run}`, '3 hours');
    await insert(`att_new_${run}`, '0 seconds');
    for (const [id, age] of [
      [`del_old_${run}`, '1 hour'],
      [`del_new_${run}`, '0 seconds'],
    ]) {
      await db.query(
        `INSERT INTO manual_retries (delivery_id, attempt, requested_at)
         VALUES ($1, 2, now() - $2::interval)`,
        [id, age],
      );
    }
    const left = async () => [
      ...(
        await db.query<{ attempt_id: string }>(
          'SELECT attempt_id FROM delivery_attempts WHERE attempt_id = ANY($1)',
          [[`att_old_${run}`, `att_older_${run}`, `att_new_${run}`]],
        )
      ).rows.map((r) => r.attempt_id),
      ...(
        await db.query<{ subscription_id: string }>(
          'SELECT subscription_id FROM delivery_stats_hourly WHERE subscription_id = ANY($1)',
          [[`att_older_${run}`, `att_new_${run}`]],
        )
      ).rows.map((r) => `hour of ${r.subscription_id}`),
      ...(
        await db.query<{ delivery_id: string }>(
          'SELECT delivery_id FROM manual_retries WHERE delivery_id = ANY($1)',
          [[`del_old_${run}`, `del_new_${run}`]],
        )
      ).rows.map((r) => r.delivery_id),
    ];
    const deadline = Date.now() + 10_000;
    while ((await left()).some((id) => id.includes('_old')) && Date.now() < deadline)
      await sleep(200);
    expect(await left()).toEqual([`att_new_${run}`, `hour of att_new_${run}`, `del_new_${run}`]);
  });

  it("purges the stored events of a deleted organisation, and not another's", async () => {
    const run = Date.now().toString(36);
    const created = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: `Leaving ${run}`,
    });
    expect(created.status).toBe(201);
    const leaving = created.json.id as string;
    const [theirs, ours] = [`evt_leaving_${run}_aaaa`, `evt_staying_${run}_aaaa`];
    for (const [id, organization] of [
      [theirs, leaving],
      [ours, organizationId],
    ]) {
      await db.query(
        `INSERT INTO mail_events (event_id, organization_id, message_id, type, occurred_at, event, stored_at)
         VALUES ($1, $2, NULL, 'message.delivered', now(), '{}', now())`,
        [id, organization],
      );
    }
    const events = async () =>
      (
        await db.query<{ event_id: string }>(
          'SELECT event_id FROM mail_events WHERE event_id = ANY($1) ORDER BY event_id',
          [[theirs, ours]],
        )
      ).rows.map((r) => r.event_id);
    // A purge or two while the organisation is there: its events are as young as ours.
    await sleep(2_500);
    expect(await events()).toEqual([theirs, ours]);
    const deleted = await http(
      'DELETE',
      `${pipeline.apiUrl}/v1/organizations/${leaving}`,
      pipeline.adminToken,
    );
    expect(deleted.status).toBe(204);
    const deadline = Date.now() + 10_000;
    while ((await events()).includes(theirs) && Date.now() < deadline) await sleep(200);
    expect(await events()).toEqual([ours]);
  });

  it('keeps events a day past DELIVERY_LOG_RETENTION from their arrival, and says so when a delivery outlived its event', async () => {
    // Events: one that arrived within the day's margin after the retention, one before it,
    // and one that arrived just now but occurred long ago (a backlog worked off).
    const run = Date.now().toString(36);
    const [kept, gone, late] = [
      `evt_kept_${run}_aaaa`,
      `evt_gone_${run}_aaaa`,
      `evt_late_${run}_aaaa`,
    ];
    for (const [id, arrived, occurred] of [
      [kept, '1 hour', '1 hour'],
      [gone, '25 hours', '25 hours'],
      [late, '0 hours', '400 days'],
    ] as const) {
      await db.query(
        `INSERT INTO mail_events (event_id, organization_id, message_id, type, occurred_at, event, stored_at)
         VALUES ($1, $2, NULL, 'message.delivered', now() - $4::interval, '{}', now() - $3::interval)`,
        [id, organizationId, arrived, occurred],
      );
    }
    const events = async () =>
      (
        await db.query<{ event_id: string }>(
          'SELECT event_id FROM mail_events WHERE event_id = ANY($1) ORDER BY event_id',
          [[kept, gone, late]],
        )
      ).rows.map((r) => r.event_id);
    const deadline = Date.now() + 10_000;
    while ((await events()).includes(gone) && Date.now() < deadline) await sleep(200);
    // Another purge or two, so that a late event purged by when it occurred would show.
    await sleep(2_500);
    expect(await events()).toEqual([kept, late]);

    // A delivery whose attempt is in the log and whose event is not: 410, not "not found".
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://127.0.0.1:9/expired',
      events: ['message.delivered'],
    });
    const id = created.json.id as string;
    const deliveryId = newId('delivery');
    await db.query(
      `INSERT INTO delivery_attempts (attempt_id, delivery_id, subscription_id, organization_id,
         event_id, event_type, attempt, outcome, http_status, duration_ms, error, next_retry_at, attempted_at)
       VALUES ($1, $2, $3, $4, $5, 'message.delivered', 1, 'failed', 500, 5, 'HTTP 500', NULL, now())`,
      [`att_expired_${run}`, deliveryId, id, organizationId, gone],
    );
    const retried = await http(
      'POST',
      `${pipeline.apiUrl}/v1/webhooks/${id}/deliveries/${deliveryId}/retry`,
      apiKey,
    );
    expect(retried.status, JSON.stringify(retried.json)).toBe(410);
    expect(retried.json.error).toMatchObject({
      code: 'event_expired',
      message: expect.stringContaining('past DELIVERY_LOG_RETENTION'),
    });
  });
});
