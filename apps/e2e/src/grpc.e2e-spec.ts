import { WEBHOOKS_PROTO_LOADER_OPTIONS } from '@hookpost/contracts';
import { REPO_ROOT } from '@hookpost/testing';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import { http, startPipeline, type Pipeline } from './pipeline.js';

/** The gRPC API with a plain @grpc/grpc-js client, as a customer would call it. */
describe('gRPC API', () => {
  let pipeline: Pipeline;
  let client: WebhooksGrpc;
  let apiKey: string;
  let apiKeyId: string;
  let otherKey: string;

  /** The response; a failure rejects with its status code and details. */
  async function call<T = Record<string, unknown>>(
    method: string,
    request: unknown,
    key: string = apiKey,
  ): Promise<T> {
    const result = await client.call<T>(method, request, key);
    if (result.code !== grpc.status.OK)
      throw Object.assign(new Error(result.details), {
        code: result.code,
        details: result.details,
      });
    return result.value as T;
  }
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ code: grpc.status.OK, details: '' }),
      (error: { code: grpc.status; details: string }) => ({
        code: error.code,
        details: error.details,
      }),
    );

  beforeAll(async () => {
    pipeline = await startPipeline();
    const key = async (name: string) => {
      const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
        name,
      });
      const created = await http(
        'POST',
        `${pipeline.apiUrl}/v1/organizations/${org.json.id}/api-keys`,
        pipeline.adminToken,
      );
      return { key: created.json.key as string, id: created.json.id as string };
    };
    ({ key: apiKey, id: apiKeyId } = await key('gRPC Co'));
    ({ key: otherKey } = await key('gRPC Other'));
    client = new WebhooksGrpc(pipeline.grpcAddress);
  });

  afterAll(async () => {
    client?.close();
    await pipeline?.stop();
  });

  it('runs the webhook lifecycle with the same rules as REST', async () => {
    const created = await call<{ webhook: { id: string; version: number }; secret: string }>(
      'CreateWebhook',
      {
        url: 'http://127.0.0.1:9/grpc',
        events: ['delivered'],
        headers: { 'X-Team': 'mail' },
        rate_limit: 0,
      },
    );
    expect(created.secret).toMatch(/^whsec_/);
    const id = created.webhook.id;
    expect(created.webhook).toMatchObject({ events: ['message.delivered'], version: 1 });
    expect(created.webhook).not.toHaveProperty('rate_limit');

    const got = await call<{ id: string; secret?: string; headers: Record<string, string> }>(
      'GetWebhook',
      { id },
    );
    expect(got).toMatchObject({ id, headers: { 'X-Team': 'mail' } });
    expect(got.secret).toBeUndefined();

    const updated = await call<{ events: string[]; version: number }>('UpdateWebhook', {
      id,
      events: ['message.*'],
      set_events: true,
      expected_version: 1,
    });
    expect(updated).toMatchObject({ events: ['message.*'], version: 2 });
    const stale = await failure(
      call('UpdateWebhook', { id, description: 'x', expected_version: 1 }),
    );
    expect(stale.code).toBe(grpc.status.FAILED_PRECONDITION);

    // A list of events without set_events would be taken for none: it is refused.
    const unmeant = await failure(call('UpdateWebhook', { id, events: ['message.opened'] }));
    expect(unmeant.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unmeant.details).toContain('set_events');
    const negative = await failure(
      call('UpdateWebhook', { id, description: 'x', expected_version: -3 }),
    );
    expect(negative.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(negative.details).toContain('expected_version');

    // proto3 has no null: an empty description clears it, as null does over REST.
    await call('UpdateWebhook', { id, description: 'mail team' });
    await call('UpdateWebhook', { id, description: '' });
    const cleared = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey);
    expect(cleared.json.description).toBeNull();

    // A rate limit is set, shown, refused out of range naming the field, and 0 clears it.
    expect(await call('UpdateWebhook', { id, rate_limit: 25 })).toMatchObject({ rate_limit: 25 });
    const tooFast = await failure(call('UpdateWebhook', { id, rate_limit: 10_001 }));
    expect(tooFast.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(tooFast.details).toContain('rate_limit');
    expect(await call('GetWebhook', { id })).toMatchObject({ rate_limit: 25 });
    // Metadata: set, shown, and cleared by an empty map.
    expect(
      await call('UpdateWebhook', { id, metadata: { values: { customer_id: 'cus_1' } } }),
    ).toMatchObject({ metadata: { customer_id: 'cus_1' } });
    const badMetadata = await failure(
      call('UpdateWebhook', { id, metadata: { values: { ['k'.repeat(41)]: 'v' } } }),
    );
    expect(badMetadata.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badMetadata.details).toContain('metadata');
    expect(await call('UpdateWebhook', { id, metadata: {} })).toMatchObject({ metadata: {} });
    const unlimited = await call<{ rate_limit?: number }>('UpdateWebhook', { id, rate_limit: 0 });
    expect(unlimited.rate_limit).toBeUndefined();
    expect((await http('GET', `${pipeline.apiUrl}/v1/webhooks/${id}`, apiKey)).json).toMatchObject({
      rate_limit: null,
    });

    expect(await call('PauseWebhook', { id })).toMatchObject({ status: 'paused' });
    // The list narrowed by status, over gRPC and REST, finds it among the paused alone.
    const listed = async (status: string[]) => [
      (await call<{ data: Array<{ id: string }> }>('ListWebhooks', { status })).data.map(
        (w) => w.id,
      ),
      (
        (
          await http(
            'GET',
            `${pipeline.apiUrl}/v1/webhooks?limit=100&status=${status.join(',')}`,
            apiKey,
          )
        ).json.data as Array<{ id: string }>
      ).map((w) => w.id),
    ];
    expect(await listed(['paused'])).toEqual([[id], [id]]);
    expect(await listed(['active', 'failed'])).toEqual([
      expect.not.arrayContaining([id]),
      expect.not.arrayContaining([id]),
    ]);
    const badStatus = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks?status=paused,gone`,
      apiKey,
    );
    expect(badStatus.status).toBe(422);
    expect(JSON.stringify(badStatus.json)).toContain(
      'must be one of active, paused, failed, disabled',
    );
    expect(await call('ResumeWebhook', { id })).toMatchObject({ status: 'active' });
    expect(await listed(['paused'])).toEqual([
      expect.not.arrayContaining([id]),
      expect.not.arrayContaining([id]),
    ]);
    const rotated = await call<{ secret: string; previous_secret_expires_at: string }>(
      'RotateSecret',
      { id },
    );
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.previous_secret_expires_at).toBeTruthy();

    const page = await call<{ data: Array<{ id: string }> }>('ListWebhooks', { limit: 10 });
    expect(page.data.map((w) => w.id)).toContain(id);
    const attempts = await call<{ data: unknown[] }>('ListDeliveryAttempts', { id });
    expect(attempts.data).toEqual([]);
    const types = await call<{ data: Array<{ name: string; schema_json: string }> }>(
      'ListEventTypes',
      { limit: 100 },
    );
    expect(types.data.map((t) => t.name)).toContain('message.bounced');
    expect(JSON.parse(types.data[0]!.schema_json)).toMatchObject({ type: 'object' });
    const events = await failure(call('ListMessageEvents', { message_id: 'none' }));
    expect(events).toEqual({ code: grpc.status.NOT_FOUND, details: 'message not found' });

    await call('DeleteWebhook', { id });
    expect((await failure(call('GetWebhook', { id }))).code).toBe(grpc.status.NOT_FOUND);
  });

  it('tells every change to a webhook, newest first, with who made it, REST and gRPC alike', async () => {
    const created = await call<{ webhook: { id: string } }>('CreateWebhook', {
      url: 'http://127.0.0.1:9/history',
      events: ['delivered'],
      headers: { 'X-Token': 'not-for-the-history' },
    });
    const id = created.webhook.id;
    const rest = (method: string, path: string, body?: unknown) =>
      http(method, `${pipeline.apiUrl}/v1/webhooks/${id}${path}`, apiKey, body);
    await rest('PATCH', '', { url: 'http://127.0.0.1:9/history-2', rate_limit: 5 });
    await rest('POST', '/pause');
    await rest('POST', '/rotate-secret', {});

    const page = await rest('GET', '/history');
    expect(page.status).toBe(200);
    const entries = page.json.data as Array<Record<string, unknown>>;
    expect(entries.map((e) => [e.version, e.type])).toEqual([
      [4, 'secret_rotated'],
      [3, 'status_changed'],
      [2, 'updated'],
      [1, 'created'],
    ]);
    expect(entries[2]!.changes).toEqual({ url: 'http://127.0.0.1:9/history-2', rate_limit: 5 });
    expect(entries[1]!.changes).toEqual({ status: 'paused', reason: 'api' });
    expect(entries[3]!.changes).toMatchObject({
      url: 'http://127.0.0.1:9/history',
      events: ['message.delivered'],
      header_names: ['X-Token'],
    });
    // Every change by the same key, named by its id; no secret, no header value.
    const actors = new Set(entries.map((e) => JSON.stringify(e.actor)));
    expect(actors.size).toBe(1);
    expect(JSON.parse([...actors][0]!)).toEqual({ kind: 'api_key', id: apiKeyId });
    const text = JSON.stringify(page.json);
    for (const hidden of ['not-for-the-history', 'whsec_', 'v1.'])
      expect(text).not.toContain(hidden);

    // Page by page over gRPC, the same entries.
    const first = await call<{ data: Array<Record<string, unknown>>; next_cursor: string }>(
      'ListWebhookHistory',
      { id, limit: 3 },
    );
    expect(first.data.map((e) => e.version)).toEqual([4, 3, 2]);
    expect(first.next_cursor).toBe('2');
    const second = await call<{ data: Array<Record<string, unknown>>; next_cursor?: string }>(
      'ListWebhookHistory',
      { id, limit: 3, cursor: first.next_cursor },
    );
    expect(second.next_cursor).toBeUndefined();
    expect(second.data).toHaveLength(1);
    expect(second.data[0]).toMatchObject({ version: 1, type: 'created', actor: entries[3]!.actor });
    expect(JSON.parse(second.data[0]!.changes_json as string)).toEqual(entries[3]!.changes);

    // A bad cursor is named; another organisation's webhook is not found.
    const bad = await rest('GET', '/history?cursor=abc');
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.json)).toContain('cursor');
    expect((await failure(call('ListWebhookHistory', { id, cursor: '0' }))).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect((await failure(call('ListWebhookHistory', { id }, otherKey))).code).toBe(
      grpc.status.NOT_FOUND,
    );
  });

  it('names the bad field, hides other organisations, and needs the API key', async () => {
    const bad = await failure(call('CreateWebhook', { url: 'ftp://x', events: ['message.nope'] }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toContain('url');
    expect(bad.details).toContain('events');

    const mine = await call<{ webhook: { id: string } }>('CreateWebhook', {
      url: 'http://127.0.0.1:9/mine',
      events: ['message.delivered'],
    });
    for (const [method, request] of [
      ['GetWebhook', { id: mine.webhook.id }],
      ['UpdateWebhook', { id: mine.webhook.id, description: 'taken' }],
      ['DeleteWebhook', { id: mine.webhook.id }],
      ['PauseWebhook', { id: mine.webhook.id }],
      ['RotateSecret', { id: mine.webhook.id }],
      ['SendTestEvent', { id: mine.webhook.id }],
      ['ListDeliveryAttempts', { id: mine.webhook.id }],
      ['Replay', { id: mine.webhook.id, since: new Date().toISOString() }],
    ] as const) {
      const result = await failure(call(method, request, otherKey));
      expect(result.code, method).toBe(grpc.status.NOT_FOUND);
    }
    expect(await call('GetWebhook', { id: mine.webhook.id })).toMatchObject({ version: 1 });

    // '' sends no authorization metadata at all.
    const anonymous = await failure(call('ListWebhooks', {}, ''));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = await failure(call('ListWebhooks', {}, 'not-a-key'));
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('keeps a long error readable by any client, and refuses a request larger than REST takes', async () => {
    // A hundred bad domains: a status message with every detail would be past the 8 KB
    // of trailers that gRPC Java and C-core clients take.
    const domains = Array.from({ length: 100 }, (_, i) => `not a domain ${i} ${'x'.repeat(30)}`);
    const many = await failure(
      call('CreateWebhook', {
        url: 'http://127.0.0.1:9/many',
        events: ['message.delivered'],
        scope: { domains },
      }),
    );
    expect(many.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(many.details).toContain('scope.domains');
    expect(many.details).toMatch(/and \d+ more\)$/);
    // The reasons come through, not only the names of the fields.
    expect(many.details).toContain('scope.domains.0: ');
    expect(many.details.length).toBeLessThan(2_200);

    const huge = await failure(
      call('CreateWebhook', {
        url: 'http://127.0.0.1:9/huge',
        events: ['message.delivered'],
        description: 'x'.repeat(300 * 1024),
      }),
    );
    expect(huge.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const stale = await failure(
      call('ListMessageEvents', { message_id: 'm', cursor: '9999999999999999999' }),
    );
    expect(stale.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(stale.details).toContain('cursor');
  });

  it('serves reflection that lists hookpost.v1.Webhooks', async () => {
    const reflection = grpc.loadPackageDefinition(
      protoLoader.loadSync(
        `${REPO_ROOT}node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto`,
        WEBHOOKS_PROTO_LOADER_OPTIONS,
      ),
    ) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const reflector = new reflection.grpc.reflection.v1.ServerReflection(
      pipeline.grpcAddress,
      grpc.credentials.createInsecure(),
    ) as unknown as {
      ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
      close(): void;
    };
    const services = await new Promise<string[]>((resolve, reject) => {
      const stream = reflector.ServerReflectionInfo();
      stream.on('data', (response) => {
        const list = response.list_services_response as { service: Array<{ name: string }> };
        resolve(list.service.map((s) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    reflector.close();
    expect(services).toContain('hookpost.v1.Webhooks');
  });
});
