import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import { http, requireEnv, startPipeline, tenant, type Pipeline } from './pipeline.js';

/**
 * Idempotency keys against the real API (ADR 0020): a POST sent again with its key
 * answers as the first did and does nothing twice, over REST and gRPC; another request
 * with the key, or a bad key, is refused; organisations' keys are their own; the kept
 * answers hold no secret in plain text.
 */
describe('Idempotency-Key', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let organizationId: string;
  let otherKey: string;
  let client: WebhooksGrpc;
  const webhooks = (path = '') => `${pipeline.apiUrl}/v1/webhooks${path}`;

  /** A POST with an Idempotency-Key (and the status, headers and body it got). */
  async function post(url: string, key: string, body: unknown, token = apiKey) {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      headers: response.headers,
      json: (await response.json()) as Record<string, unknown>,
    };
  }

  const count = async (token = apiKey) =>
    ((await http('GET', webhooks('?limit=100'), token)).json.data as unknown[]).length;

  const hook = (path: string) => ({
    url: `http://127.0.0.1:9/${path}`,
    events: ['message.delivered'],
  });

  beforeAll(async () => {
    pipeline = await startPipeline();
    ({ apiKey, organizationId } = await tenant(pipeline, 'Idempotent Co'));
    ({ apiKey: otherKey } = await tenant(pipeline, 'Other Idempotent Co'));
    client = new WebhooksGrpc(pipeline.grpcAddress);
  });

  afterAll(async () => {
    client?.close();
    await pipeline?.stop();
  });

  it('answers a create sent again with its key as the first time, and creates one webhook', async () => {
    const before = await count();
    const first = await post(webhooks(), 'create-1', hook('one'));
    const again = await post(webhooks(), 'create-1', hook('one'));
    expect(first.status, JSON.stringify(first.json)).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toEqual(first.json);
    expect(again.json.secret).toMatch(/^whsec_/);
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(again.headers.get('location')).toBe(`/v1/webhooks/${first.json.id as string}`);
    expect(await count()).toBe(before + 1);
  });

  it('runs requests sent at once with one key once: the others wait for it or are told it runs', async () => {
    const before = await count();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => post(webhooks(), 'create-at-once', hook('at-once'))),
    );
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.every((s) => s === 201 || s === 409),
      JSON.stringify(statuses),
    ).toBe(true);
    expect(new Set(answers.filter((a) => a.status === 201).map((a) => a.json.id)).size).toBe(1);
    for (const busy of answers.filter((a) => a.status === 409))
      expect(busy.json).toMatchObject({ error: { code: 'idempotency_key_in_use' } });
    expect(await count()).toBe(before + 1);
    // Once it has answered, the key gives its answer.
    const after = await post(webhooks(), 'create-at-once', hook('at-once'));
    expect(after.status).toBe(201);
    expect(after.headers.get('idempotent-replayed')).toBe('true');
  });

  it('refuses the key with another request, and a key that is not one', async () => {
    const used = await post(webhooks(), 'used-once', hook('used'));
    const before = await count();
    const otherBody = await post(webhooks(), 'used-once', hook('something-else'));
    expect(otherBody.status).toBe(422);
    expect(otherBody.json).toMatchObject({
      error: {
        code: 'idempotency_key_reused',
        message: expect.stringMatching(/another request/),
      },
    });
    const otherRoute = await post(webhooks(`/${used.json.id as string}/pause`), 'used-once', {});
    expect(otherRoute.status).toBe(422);
    for (const bad of ['has space', '', 'é', 'x'.repeat(256)]) {
      const refused = await post(webhooks(), bad, hook('bad-key'));
      expect(refused.status, bad).toBe(400);
      expect(refused.json).toMatchObject({
        error: { code: 'invalid_idempotency_key', message: expect.stringMatching(/255/) },
      });
    }
    expect(await count()).toBe(before);
  });

  it('sends a test event once for its key, and answers a repeat with the first 202', async () => {
    const created = await post(webhooks(), 'for-tests', hook('tested'));
    const id = created.json.id as string;
    const first = await post(webhooks(`/${id}/test`), 'test-once', { type: 'message.bounced' });
    const again = await post(webhooks(`/${id}/test`), 'test-once', { type: 'message.bounced' });
    expect(first.status, JSON.stringify(first.json)).toBe(202);
    expect(again.status).toBe(202);
    expect(again.json).toEqual(first.json);
    expect(again.json.event_id).toEqual(expect.any(String));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('keeps an error the request came to, and gives it again', async () => {
    const bad = { url: 'ftp://example.com/', events: ['message.delivered'] };
    const first = await post(webhooks(), 'refused-once', bad);
    const again = await post(webhooks(), 'refused-once', bad);
    expect(first.status).toBe(422);
    expect(again.status).toBe(422);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it("keeps each organisation's keys apart", async () => {
    const mine = await post(webhooks(), 'shared-name', hook('mine'));
    const theirs = await post(webhooks(), 'shared-name', hook('theirs'), otherKey);
    expect(mine.status).toBe(201);
    expect(theirs.status, JSON.stringify(theirs.json)).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.json.id).not.toBe(mine.json.id);
  });

  it('answers a gRPC call sent again with its idempotency-key as the first time', async () => {
    const before = await count();
    const request = { url: 'http://127.0.0.1:9/grpc', events: ['message.delivered'] };
    const options = { metadata: { 'idempotency-key': 'grpc-create' } };
    const first = await client.call('CreateWebhook', request, apiKey, options);
    const again = await client.call('CreateWebhook', request, apiKey, options);
    expect(first.code, first.details).toBe(grpc.status.OK);
    expect(again.code, again.details).toBe(grpc.status.OK);
    expect(again.value).toEqual(first.value);
    expect(first.trailers.get('idempotent-replayed')).toEqual([]);
    expect(again.trailers.get('idempotent-replayed')).toEqual(['true']);
    expect(await count()).toBe(before + 1);

    const other = await client.call(
      'CreateWebhook',
      { ...request, url: 'http://127.0.0.1:9/grpc-other' },
      apiKey,
      options,
    );
    expect(other.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(other.errorCode).toBe('idempotency_key_reused');
    const bad = await client.call('CreateWebhook', request, apiKey, {
      metadata: { 'idempotency-key': 'has space' },
    });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.errorCode).toBe('invalid_idempotency_key');
  });

  it('keeps the answers encrypted: no signing secret in the table', async () => {
    const created = await post(webhooks(), 'secret-kept', hook('secret'));
    const secret = created.json.secret as string;
    const database = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    await database.connect();
    try {
      const { rows } = await database.query<{ answer: string }>(
        `SELECT answer FROM idempotency_keys WHERE organization_id = $1 AND key = 'secret-kept'`,
        [organizationId],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.answer).toMatch(/^v1\./);
      const { rows: leaks } = await database.query(
        `SELECT key FROM idempotency_keys WHERE answer LIKE '%' || $1 || '%'
            OR answer LIKE '%' || $2 || '%'`,
        [secret, secret.slice('whsec_'.length)],
      );
      expect(leaks).toEqual([]);
    } finally {
      await database.end();
    }
  });
});
