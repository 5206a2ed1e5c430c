import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startPipeline, type Pipeline } from './pipeline.js';

/**
 * One organisation never sees or changes another's subscriptions, a scoped key reaches
 * only subscriptions inside its scope, and customer keys never pass operator routes.
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
});
