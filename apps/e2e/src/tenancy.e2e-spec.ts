import { TOPICS } from '@hookpost/contracts';
import { RecordingReceiver } from '@hookpost/testing';
import * as grpc from '@grpc/grpc-js';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import { http, kcatProduce, requireEnv, startPipeline, type Pipeline } from './pipeline.js';

/**
 * One organisation never sees or changes another's subscriptions, a scoped key reaches
 * only subscriptions inside its scope, and customer keys never pass operator routes:
 * hand-written cases first, then a matrix of every documented REST route and every gRPC
 * method, called as an intruder, with the victim's state compared before and after.
 */
describe('tenancy and key scope', () => {
  let pipeline: Pipeline;
  const run = Date.now().toString(36);
  const scoped = `scoped-${run}.example`;
  const keys: Record<'a' | 'b' | 'aScoped', string> = { a: '', b: '', aScoped: '' };
  const ids: Record<'a' | 'aInScope' | 'b', string> = { a: '', aInScope: '', b: '' };
  const url = (path = '') => `${pipeline.apiUrl}/v1/webhooks${path}`;

  async function organization(name: string): Promise<string> {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name,
    });
    expect(org.status).toBe(201);
    return org.json.id as string;
  }
  async function apiKey(organizationId: string, scope?: unknown): Promise<string> {
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
      pipeline.adminToken,
      scope ? { scope } : {},
    );
    expect(key.status, JSON.stringify(key.json)).toBe(201);
    return key.json.key as string;
  }
  async function create(key: string, body: Record<string, unknown> = {}) {
    return http('POST', url(), key, {
      url: 'http://127.0.0.1:9/tenancy',
      events: ['message.delivered'],
      ...body,
    });
  }

  beforeAll(async () => {
    pipeline = await startPipeline();
    const a = await organization('Tenant A');
    const b = await organization('Tenant B');
    keys.a = await apiKey(a);
    keys.b = await apiKey(b);
    keys.aScoped = await apiKey(a, { domains: [scoped] });
    ids.a = (await create(keys.a)).json.id as string;
    ids.aInScope = (await create(keys.a, { scope: { domains: [scoped] } })).json.id as string;
    ids.b = (await create(keys.b)).json.id as string;
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  /** Every route on one subscription, as [method, path, body]. */
  const routes = (id: string): Array<[string, string, unknown?]> => [
    ['GET', `/${id}`],
    ['GET', `/${id}/logs`],
    ['PATCH', `/${id}`, { description: 'taken over' }],
    ['PUT', `/${id}`, { url: 'http://127.0.0.1:9/x', events: ['message.bounced'] }],
    ['POST', `/${id}/pause`],
    ['POST', `/${id}/resume`],
    ['POST', `/${id}/rotate-secret`, {}],
    ['DELETE', `/${id}`],
  ];

  async function unchanged(id: string, key: string, version: number): Promise<void> {
    const now = await http('GET', url(`/${id}`), key);
    expect(now.status).toBe(200);
    expect(now.json.version).toBe(version);
  }

  it("answers 404 on every route to another organisation's subscription, and changes nothing", async () => {
    const before = await http('GET', url(`/${ids.a}`), keys.a);
    for (const [method, path, body] of routes(ids.a)) {
      const response = await http(method, url(path), keys.b, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.json).toEqual({
        error: { code: 'not_found', message: 'webhook not found', details: [] },
      });
    }
    await unchanged(ids.a, keys.a, before.json.version as number);
    const listed = await http('GET', url('?limit=100'), keys.b);
    expect((listed.json.data as Array<{ id: string }>).map((w) => w.id)).toEqual([ids.b]);
  });

  it('lets a scoped key reach only the subscriptions inside its scope', async () => {
    const before = await http('GET', url(`/${ids.a}`), keys.a);
    for (const [method, path, body] of routes(ids.a)) {
      const response = await http(method, url(path), keys.aScoped, body);
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    await unchanged(ids.a, keys.a, before.json.version as number);

    const inScope = await http('GET', url(`/${ids.aInScope}`), keys.aScoped);
    expect(inScope.status).toBe(200);
    const listed = await http('GET', url('?limit=1'), keys.aScoped);
    expect((listed.json.data as Array<{ id: string }>).map((w) => w.id)).toEqual([ids.aInScope]);
    expect(listed.json.next_cursor).toBeNull();

    // Created by a scoped key: inside its scope by default, and never outside it.
    const own = await create(keys.aScoped);
    expect(own.status).toBe(201);
    expect(own.json.scope).toEqual({ domains: [scoped], mailboxes: [] });
    const sub = await create(keys.aScoped, { scope: { domains: [`mail.${scoped}`] } });
    expect(sub.status).toBe(201);
    const outside = await create(keys.aScoped, { scope: { domains: ['elsewhere.example'] } });
    expect(outside.status).toBe(403);
    expect(outside.json).toMatchObject({
      error: { code: 'outside_key_scope', details: [{ field: 'scope' }] },
    });
    const widen = await http('PATCH', url(`/${ids.aInScope}`), keys.aScoped, {
      scope: { domains: [], mailboxes: [] },
    });
    expect(widen.status).toBe(403);
    await unchanged(ids.aInScope, keys.a, inScope.json.version as number);
  });

  it('refuses operator routes to customer keys', async () => {
    const organizations = await http('POST', `${pipeline.apiUrl}/v1/organizations`, keys.a, {
      name: 'Sneaky',
    });
    expect(organizations.status).toBe(401);
    const grant = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${ids.a}/api-keys`,
      keys.a,
      {},
    );
    expect(grant.status).toBe(401);
  });

  describe('matrix of every route and method, called as an intruder', () => {
    const receiver = new RecordingReceiver();
    const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    let client: WebhooksGrpc;
    /** The victim: organisation A's org-wide subscription, with one real delivery. */
    const victim = { organizationId: '', keyId: '', webhookId: '', deliveryId: '', secret: '' };
    const messageId = `<tenancy-${run}@elsewhere.example>`;

    /** What a route is, for an intruder. */
    type Kind =
      | 'owned' // names one of the victim's resources: 404 or 403
      | 'collection' // the caller's own organisation: never shows or touches the victim's
      | 'catalogue' // the same for every organisation: no tenant data
      | 'operator'; // ADMIN_TOKEN only: a customer key gets 401 or 403

    const REST: Record<string, Kind> = {
      'POST /v1/organizations': 'operator',
      'GET /v1/organizations': 'operator',
      'GET /v1/organizations/{id}': 'operator',
      'PATCH /v1/organizations/{id}': 'operator',
      'DELETE /v1/organizations/{id}': 'operator',
      'GET /v1/organizations/{id}/api-keys': 'operator',
      'POST /v1/organizations/{id}/api-keys': 'operator',
      'DELETE /v1/organizations/{id}/api-keys/{keyId}': 'operator',
      'POST /v1/webhooks': 'collection',
      'GET /v1/webhooks': 'collection',
      'GET /v1/webhooks/{id}': 'owned',
      'PATCH /v1/webhooks/{id}': 'owned',
      'PUT /v1/webhooks/{id}': 'owned',
      'DELETE /v1/webhooks/{id}': 'owned',
      'POST /v1/webhooks/{id}/pause': 'owned',
      'POST /v1/webhooks/{id}/resume': 'owned',
      'POST /v1/webhooks/{id}/rotate-secret': 'owned',
      'POST /v1/webhooks/{id}/test': 'owned',
      'GET /v1/webhooks/{id}/logs': 'owned',
      'GET /v1/webhooks/{id}/stats': 'owned',
      'GET /v1/webhooks/{id}/history': 'owned',
      'POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry': 'owned',
      'POST /v1/webhooks/{id}/replay': 'owned',
      'GET /v1/event-types': 'catalogue',
      'GET /v1/messages/{messageId}/events': 'owned',
      'DELETE /v1/messages/{messageId}/events': 'owned',
    };

    /** Each gRPC method, with a request aimed at the victim. */
    const GRPC: Record<string, { kind: Kind; request: () => Record<string, unknown> }> = {
      CreateWebhook: {
        kind: 'collection',
        request: () => ({ url: 'http://127.0.0.1:9/intruder', events: ['message.delivered'] }),
      },
      ListWebhooks: { kind: 'collection', request: () => ({ limit: 100 }) },
      GetWebhook: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      UpdateWebhook: {
        kind: 'owned',
        request: () => ({
          id: victim.webhookId,
          url: 'http://127.0.0.1:9/taken',
          events: ['message.*'],
          set_events: true,
          description: 'taken over',
        }),
      },
      DeleteWebhook: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      PauseWebhook: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      ResumeWebhook: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      RotateSecret: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      SendTestEvent: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      ListDeliveryAttempts: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      GetWebhookStats: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      ListWebhookHistory: { kind: 'owned', request: () => ({ id: victim.webhookId }) },
      RetryDelivery: {
        kind: 'owned',
        request: () => ({ id: victim.webhookId, delivery_id: victim.deliveryId }),
      },
      Replay: {
        kind: 'owned',
        request: () => ({ id: victim.webhookId, since: '2000-01-01T00:00:00Z' }),
      },
      ListEventTypes: { kind: 'catalogue', request: () => ({ limit: 100 }) },
      ListMessageEvents: { kind: 'owned', request: () => ({ message_id: messageId }) },
      DeleteMessageEvents: { kind: 'owned', request: () => ({ message_id: messageId }) },
    };

    /** Organisation A as stored and as its own key sees it. */
    async function snapshot() {
      const rows = async (sql: string, param = victim.organizationId) =>
        (await db.query(sql, [param])).rows as unknown[];
      return {
        subscriptions: await rows(
          'SELECT id, state, status, version, deleted FROM subscriptions WHERE organization_id = $1 ORDER BY id',
        ),
        changes: await rows(
          'SELECT subscription_id, version FROM subscription_events WHERE organization_id = $1 ORDER BY position',
        ),
        // The victim's only: organisation A's older subscriptions retry a failed delivery.
        attempts: await rows(
          'SELECT attempt_id FROM delivery_attempts WHERE subscription_id = $1 ORDER BY attempt_id',
          victim.webhookId,
        ),
        events: await rows(
          'SELECT event_id FROM mail_events WHERE organization_id = $1 ORDER BY seq',
        ),
        keys: await rows(
          'SELECT id, revoked_at FROM api_keys WHERE organization_id = $1 ORDER BY id',
        ),
        organization: await rows('SELECT name, domains FROM organizations WHERE id = $1'),
        webhook: (await http('GET', url(`/${victim.webhookId}`), keys.a)).json,
        list: (await http('GET', url('?limit=100'), keys.a)).json,
        logs: (await http('GET', url(`/${victim.webhookId}/logs`), keys.a)).json,
        messageEvents: (
          await http(
            'GET',
            `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(messageId)}/events`,
            keys.a,
          )
        ).json,
        received: receiver.requests.length,
      };
    }

    async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const value = await read();
        if (done(value)) return value;
        if (Date.now() > deadline) throw new Error(`gave up waiting: ${JSON.stringify(value)}`);
        await sleep(250);
      }
    }

    beforeAll(async () => {
      await receiver.start();
      await db.connect();
      client = new WebhooksGrpc(pipeline.grpcAddress);
      const owner = await http('GET', url(`/${ids.a}`), keys.a);
      victim.organizationId = (
        await db.query('SELECT organization_id FROM subscriptions WHERE id = $1', [ids.a])
      ).rows[0].organization_id as string;
      expect(owner.status).toBe(200);
      const key = await http(
        'POST',
        `${pipeline.apiUrl}/v1/organizations/${victim.organizationId}/api-keys`,
        pipeline.adminToken,
        {},
      );
      victim.keyId = key.json.id as string;
      const created = await create(keys.a, { url: `${receiver.url}/victim` });
      expect(created.status).toBe(201);
      victim.webhookId = created.json.id as string;
      victim.secret = created.json.secret as string;
      // One real event (from a sender outside the scoped key's domain), delivered to the victim.
      await kcatProduce(pipeline.brokers, TOPICS.mailEvents, [
        {
          key: messageId,
          value: JSON.stringify({
            id: `evt_tenancy_${run}`,
            type: 'message.delivered',
            organization_id: victim.organizationId,
            occurred_at: new Date().toISOString(),
            data: { message_id: messageId, from: 'news@elsewhere.example', to: 'ann@example.org' },
          }),
        },
      ]);
      await receiver.waitFor((r) => r.path === '/victim', 1, 30_000);
      const logs = await eventually(
        () => http('GET', url(`/${victim.webhookId}/logs`), keys.a),
        (r) => (r.json.data as unknown[]).length === 1,
      );
      victim.deliveryId = (logs.json.data as Array<{ delivery_id: string }>)[0]!.delivery_id;
      await eventually(
        () =>
          http(
            'GET',
            `${pipeline.apiUrl}/v1/messages/${encodeURIComponent(messageId)}/events`,
            keys.a,
          ),
        (r) => r.status === 200 && (r.json.data as unknown[]).length === 1,
      );
    });

    afterAll(async () => {
      client?.close();
      await db.end();
      await receiver.stop();
    });

    /** A documented path with the victim's ids in it. */
    function concrete(path: string): string {
      return path.replace(/\{(\w+)\}/g, (_, param: string) => {
        const value: Record<string, string> = {
          id: path.startsWith('/v1/organizations') ? victim.organizationId : victim.webhookId,
          keyId: victim.keyId,
          deliveryId: victim.deliveryId,
          messageId: encodeURIComponent(messageId),
        };
        if (!value[param]) throw new Error(`no victim value for {${param}} in ${path}`);
        return value[param];
      });
    }

    it('covers every documented REST route and every gRPC method', async () => {
      const doc = (await (await fetch(`${pipeline.apiUrl}/docs/openapi.json`)).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      );
      expect(documented.sort()).toEqual(Object.keys(REST).sort());
      expect(client.methods.sort()).toEqual(Object.keys(GRPC).sort());
    });

    it('answers an intruder 404 or 403 on every REST route, and changes nothing', async () => {
      const doc = (await (await fetch(`${pipeline.apiUrl}/docs/openapi.json`)).json()) as {
        paths: Record<
          string,
          Record<
            string,
            { requestBody?: { content: Record<string, { example?: Record<string, unknown> }> } }
          >
        >;
      };
      const before = await snapshot();
      for (const [path, methods] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(methods)) {
          const name = `${method.toUpperCase()} ${path}`;
          const example = operation.requestBody?.content['application/json']?.example;
          for (const [intruder, key] of [
            ['another organisation', keys.b],
            ['a key scoped elsewhere', keys.aScoped],
          ] as const) {
            const label = `${name} with ${intruder}`;
            const kind = REST[name];
            if (kind === 'owned' || kind === 'operator') {
              const response = await http(
                method.toUpperCase(),
                `${pipeline.apiUrl}${concrete(path)}`,
                key,
                example,
              );
              const allowed = kind === 'owned' ? [403, 404] : [401, 403];
              expect(
                allowed,
                `${label}: ${response.status} ${JSON.stringify(response.json)}`,
              ).toContain(response.status);
              expect(response.json, label).toEqual({
                error: {
                  code: expect.any(String),
                  message: expect.any(String),
                  details: expect.any(Array),
                },
              });
            } else if (kind === 'catalogue') {
              const theirs = await http(method.toUpperCase(), `${pipeline.apiUrl}${path}`, key);
              const mine = await http(method.toUpperCase(), `${pipeline.apiUrl}${path}`, keys.a);
              expect(theirs.status, label).toBe(200);
              expect(theirs.json, label).toEqual(mine.json);
            } else if (method === 'get') {
              const response = await http('GET', `${pipeline.apiUrl}${path}?limit=100`, key);
              expect(response.status, label).toBe(200);
              expect(JSON.stringify(response.json), label).not.toContain(victim.webhookId);
            } else {
              // Creating, as the intruder: inside the caller's own organisation, or refused.
              const response = await http('POST', `${pipeline.apiUrl}${path}`, key, {
                url: 'http://127.0.0.1:9/intruder',
                events: ['message.delivered'],
                ...(key === keys.aScoped ? { scope: { domains: [], mailboxes: [] } } : {}),
              });
              expect([201, 403], label).toContain(response.status);
              if (key === keys.aScoped)
                expect(response.json, label).toMatchObject({
                  error: { code: 'outside_key_scope' },
                });
            }
          }
        }
      }
      // Anything an intruder set off (a test event, a retry, a replay) would have arrived by now.
      await sleep(3_000);
      expect(await snapshot()).toEqual(before);
    });

    it('answers an intruder NOT_FOUND or PERMISSION_DENIED on every gRPC method, and changes nothing', async () => {
      const before = await snapshot();
      for (const method of client.methods) {
        const { kind, request } = GRPC[method]!;
        for (const [intruder, key] of [
          ['another organisation', keys.b],
          ['a key scoped elsewhere', keys.aScoped],
        ] as const) {
          const label = `${method} with ${intruder}`;
          if (kind === 'owned') {
            const result = await client.call(method, request(), key);
            expect(
              [grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED],
              `${label}: ${result.code} ${result.details}`,
            ).toContain(result.code);
            expect(result.details, label).toMatch(/not found|scope/);
          } else if (kind === 'collection' && method.startsWith('List')) {
            const result = await client.call(method, request(), key);
            expect(result.code, label).toBe(grpc.status.OK);
            expect(JSON.stringify(result.value), label).not.toContain(victim.webhookId);
          } else if (kind === 'collection') {
            const outside = key === keys.aScoped ? { scope: { domains: [], mailboxes: [] } } : {};
            const result = await client.call(method, { ...request(), ...outside }, key);
            // Creating, as the intruder: inside the caller's own organisation, or refused.
            expect(result.code, `${label}: ${result.details}`).toBe(
              key === keys.aScoped ? grpc.status.PERMISSION_DENIED : grpc.status.OK,
            );
          } else {
            const mine = await client.call(method, request(), keys.a);
            const theirs = await client.call(method, request(), key);
            expect(theirs, label).toEqual(mine);
          }
        }
      }
      await sleep(3_000);
      expect(await snapshot()).toEqual(before);
    });

    it('still signs with the secret the victim was given', async () => {
      const test = await http('POST', url(`/${victim.webhookId}/test`), keys.a, {});
      expect(test.status, JSON.stringify(test.json)).toBe(202);
      const [delivered] = await receiver.waitFor(
        (r) => r.path === '/victim' && r.body.includes(test.json.event_id as string),
        1,
        20_000,
      );
      expect(delivered!.headers['x-webhook-signature']).toBe(
        `sha256=${createHmac('sha256', victim.secret).update(delivered!.body).digest('hex')}`,
      );
      // One signature: no rotation happened.
      expect(String(delivered!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    });
  });
});
