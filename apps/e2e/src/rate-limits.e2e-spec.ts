import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc, type GrpcResult } from './grpc-client.js';
import { http, startPipeline, tenant, type Pipeline } from './pipeline.js';

/**
 * Per-organisation limits with small settings: 5 calls a second (bursts of 10) and 2 test
 * events or replays a minute. An organisation past a limit gets 429 `rate_limited` with
 * Retry-After over REST and RESOURCE_EXHAUSTED with `retry-after` over gRPC, another
 * organisation is served meanwhile, and after the wait the first is served again.
 */
const PER_SECOND = 5;
const BURST = 2 * PER_SECOND;
const SENDS_PER_MINUTE = 2;

type Rest = Awaited<ReturnType<typeof http>>;

/**
 * Calls `call` until it is refused, at most a few bursts' worth: the bucket refills
 * while the test runs, so the refusal is not expected at an exact count.
 */
async function untilRefused<T>(call: () => Promise<T>, refused: (answer: T) => boolean) {
  const answers: T[] = [];
  for (let i = 0; i < 3 * BURST; i++) {
    const answer = await call();
    answers.push(answer);
    if (refused(answer)) return answers;
  }
  throw new Error(`never refused in ${answers.length} calls`);
}

/** The whole seconds of a Retry-After value: a positive integer, nothing else. */
function seconds(value: string | null | undefined): number {
  expect(value).toMatch(/^[1-9]\d*$/);
  return Number(value);
}

describe('rate limits', () => {
  let pipeline: Pipeline;
  let client: WebhooksGrpc;
  let a: { organizationId: string; apiKey: string };
  let b: { organizationId: string; apiKey: string };
  let webhookA: string;
  let webhookB: string;

  beforeAll(async () => {
    pipeline = await startPipeline({
      API_RATE_LIMIT: String(PER_SECOND),
      API_SEND_RATE_LIMIT: String(SENDS_PER_MINUTE),
    });
    a = await tenant(pipeline, 'Flooding Co');
    b = await tenant(pipeline, 'Quiet Co');
    client = new WebhooksGrpc(pipeline.grpcAddress);
    const create = async (key: string, path: string) => {
      const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, key, {
        url: `http://127.0.0.1:9${path}`,
        events: ['message.delivered'],
      });
      expect(created.status).toBe(201);
      return created.json.id as string;
    };
    webhookA = await create(a.apiKey, '/a');
    webhookB = await create(b.apiKey, '/b');
  });

  afterAll(async () => {
    client?.close();
    await pipeline?.stop();
  });

  const list = (key: string) => http('GET', `${pipeline.apiUrl}/v1/webhooks`, key);
  const grpcList = (key: string) => client.call('ListWebhooks', {}, key);
  /** Until the organisations' buckets are full again (a burst takes 2 s to come back). */
  const refilled = () => sleep((BURST / PER_SECOND) * 1_000 + 200);

  it('answers an organisation past API_RATE_LIMIT 429 over REST and RESOURCE_EXHAUSTED over gRPC, serving the others', async () => {
    const first = await list(a.apiKey);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe(String(BURST));
    expect(Number(first.headers.get('ratelimit-remaining'))).toBeLessThan(BURST);

    const rest = await untilRefused(
      () => list(a.apiKey),
      (r) => r.status === 429,
    );
    // Never refused inside the burst.
    expect(rest.length).toBeGreaterThan(BURST - 3);
    const refused = rest.at(-1)!;
    expect(refused.json).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(
          /^too many requests: the limit is 5 a second per organisation, in bursts of up to 10; retry in 1 s$/,
        ),
        details: [],
      },
    });
    expect(seconds(refused.headers.get('retry-after'))).toBe(1);
    expect(refused.headers.get('ratelimit-limit')).toBe(String(BURST));
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    seconds(refused.headers.get('ratelimit-reset'));

    // Every key of the organisation shares its bucket; keys are made by the operator,
    // whose calls are not limited.
    const keys: string[] = [];
    for (let i = 0; i < BURST + 2; i++) {
      const key = await http(
        'POST',
        `${pipeline.apiUrl}/v1/organizations/${a.organizationId}/api-keys`,
        pipeline.adminToken,
      );
      expect(key.status, `operator call ${i}`).toBe(201);
      keys.push(key.json.key as string);
    }
    const other = await untilRefused(
      () => list(keys[0]!),
      (r) => r.status === 429,
    );
    // A bucket per key would have taken a burst first.
    expect(other.length).toBeLessThan(BURST);

    // Another organisation is served meanwhile, over both.
    expect((await list(b.apiKey)).status).toBe(200);
    expect((await grpcList(b.apiKey)).code).toBe(grpc.status.OK);

    const calls = await untilRefused(
      () => grpcList(a.apiKey),
      (r: GrpcResult) => r.code !== grpc.status.OK,
    );
    const exhausted = calls.at(-1)!;
    expect(calls.length).toBeLessThan(BURST);
    expect(exhausted.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(exhausted.errorCode).toBe('rate_limited');
    expect(exhausted.details).toMatch(/the limit is 5 a second per organisation.*retry in 1 s/);
    const wait = seconds(exhausted.trailers?.get('retry-after')[0]?.toString());

    // After the wait, served again over both.
    await sleep(wait * 1_000);
    expect((await list(a.apiKey)).status).toBe(200);
    await sleep(wait * 1_000);
    expect((await grpcList(a.apiKey)).code).toBe(grpc.status.OK);
  });

  it('allows API_SEND_RATE_LIMIT test events and replays a minute, then says how long to wait', async () => {
    await refilled();
    const url = (id: string, action: string) => `${pipeline.apiUrl}/v1/webhooks/${id}/${action}`;
    const since = new Date(Date.now() - 3_600_000).toISOString();

    // A test of an unknown type costs no send.
    const bad = await http('POST', url(webhookA, 'test'), a.apiKey, { type: 'message.nope' });
    expect(bad.status).toBe(422);
    const test = await http('POST', url(webhookA, 'test'), a.apiKey, {});
    expect(test.status, JSON.stringify(test.json)).toBe(202);
    const replay = await http('POST', url(webhookA, 'replay'), a.apiKey, { since });
    expect(replay.status, JSON.stringify(replay.json)).toBe(202);

    const refused: Rest = await http('POST', url(webhookA, 'replay'), a.apiKey, { since });
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(
          /^too many test events and replays: the limit is 2 a minute per organisation; retry in \d+ s$/,
        ),
        details: [],
      },
    });
    const wait = seconds(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(20);
    expect(wait).toBeLessThanOrEqual(30);
    expect(refused.headers.get('ratelimit-limit')).toBe(String(SENDS_PER_MINUTE));

    const overGrpc = await client.call('SendTestEvent', { id: webhookA }, a.apiKey);
    expect(overGrpc.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(overGrpc.errorCode).toBe('rate_limited');
    expect(seconds(overGrpc.trailers?.get('retry-after')[0]?.toString())).toBeLessThanOrEqual(30);

    // The other calls of the organisation, and the other organisation's sends, go on.
    expect((await list(a.apiKey)).status).toBe(200);
    expect((await http('POST', url(webhookB, 'test'), b.apiKey, {})).status).toBe(202);
    expect((await client.call('SendTestEvent', { id: webhookB }, b.apiKey)).code).toBe(
      grpc.status.OK,
    );
  });
});
