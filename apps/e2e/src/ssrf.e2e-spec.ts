import {
  RecordingReceiver,
  REPO_ROOT,
  SSRF_CORPUS,
  ssrfHosts,
  ssrfUrl,
  type SsrfTrick,
} from '@hookpost/testing';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import { http, startPipeline, tenant, type Pipeline } from './pipeline.js';

/** Environment that makes a service process resolve the given names to the given addresses. */
function dnsStub(hosts: Record<string, string[]>): Record<string, string> {
  return {
    NODE_OPTIONS: `--import=${REPO_ROOT}apps/e2e/src/dns-stub.ts --disable-warning=ExperimentalWarning`,
    HOOKPOST_TEST_DNS: JSON.stringify(hosts),
  };
}

const PUBLIC_URL = 'https://93.184.215.14/hooks';
/** A name whose lookups never answer, as behind a dead name server. */
const DEAD_NAME = 'dead-name-server.ssrf.test';

/**
 * The SSRF corpus against the real services. Saving: refused over REST and gRPC by a
 * pipeline that allows neither plain http nor any private network, with a 422 that names
 * the url and why, and nothing stored (DNS names are saved while they point inside).
 * Delivering: a rebinding name (public for the API, loopback for the deliverer) and
 * redirects to inside addresses reach nothing inside, and the attempts are logged failed.
 */
describe('SSRF corpus', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let client: WebhooksGrpc;
  let kept: { id: string; version: number };
  const webhooks = (path = '') => `${pipeline.apiUrl}/v1/webhooks${path}`;

  beforeAll(async () => {
    pipeline = await startPipeline({
      ALLOW_HTTP_ENDPOINTS: 'false',
      ENDPOINT_ALLOWED_NETWORKS: '',
      ...dnsStub({ ...ssrfHosts('onConnect'), [DEAD_NAME]: [] }),
    });
    ({ apiKey } = await tenant(pipeline, 'SSRF Co'));
    client = new WebhooksGrpc(pipeline.grpcAddress);
    const created = await http('POST', webhooks(), apiKey, {
      url: PUBLIC_URL,
      events: ['message.delivered'],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    kept = { id: created.json.id as string, version: created.json.version as number };
  });

  afterAll(async () => {
    client?.close();
    await pipeline?.stop();
  });

  /** The one subscription stays the only one, unchanged. */
  async function nothingStored(): Promise<void> {
    const list = await http('GET', webhooks('?limit=100'), apiKey);
    expect(list.json.data).toEqual([
      expect.objectContaining({ id: kept.id, url: PUBLIC_URL, version: kept.version }),
    ]);
  }

  /**
   * What the refusal must say about a trick: the url field and the address problem, and
   * for a name not even whether it resolves (that would map the network inside).
   */
  const refusal = (trick: SsrfTrick) =>
    trick.dns
      ? {
          field: 'url',
          code: 'unresolvable_host',
          message: `the host ${new URL(ssrfUrl(trick, 'https')).hostname} has no address webhooks may reach: it does not resolve, or resolves to a private, loopback, link-local, metadata or reserved address`,
        }
      : {
          field: 'url',
          code: 'address_not_allowed',
          message: expect.stringMatching(/private, loopback, link-local/),
        };

  it.each(SSRF_CORPUS.map((trick) => [trick.name, trick] as const))(
    'REST refuses %s on create, PATCH and PUT',
    async (_name, trick) => {
      const url = ssrfUrl(trick, 'https');
      const attempts = [
        await http('POST', webhooks(), apiKey, { url, events: ['message.delivered'] }),
        await http('PATCH', webhooks(`/${kept.id}`), apiKey, { url }),
        await http('PUT', webhooks(`/${kept.id}`), apiKey, { url, events: ['message.bounced'] }),
      ];
      for (const response of attempts) {
        expect(response.status, JSON.stringify(response.json)).toBe(422);
        expect(response.json).toEqual({
          error: {
            code: 'invalid_url',
            message: 'invalid request: url',
            details: [refusal(trick)],
          },
        });
      }
      await nothingStored();
    },
  );

  it('refuses a name that does not resolve within 5 s, without holding the request longer', async () => {
    const started = Date.now();
    const response = await http('POST', webhooks(), apiKey, {
      url: `https://${DEAD_NAME}/hook`,
      events: ['message.delivered'],
    });
    const took = Date.now() - started;
    expect(response.status, JSON.stringify(response.json)).toBe(422);
    expect(response.json).toMatchObject({
      error: { details: [{ field: 'url', code: 'unresolvable_host' }] },
    });
    expect(took).toBeGreaterThanOrEqual(4_500);
    expect(took).toBeLessThan(8_000);
    await nothingStored();
  });

  it.each(SSRF_CORPUS.map((trick) => [trick.name, trick] as const))(
    'gRPC refuses %s on CreateWebhook and UpdateWebhook',
    async (_name, trick) => {
      const url = ssrfUrl(trick, 'https');
      for (const result of [
        await client.call('CreateWebhook', { url, events: ['message.delivered'] }, apiKey),
        await client.call('UpdateWebhook', { id: kept.id, url }, apiKey),
      ]) {
        expect(result.code, result.details).toBe(grpc.status.INVALID_ARGUMENT);
        expect(result.errorCode).toBe('invalid_url');
        expect(result.details).toMatch(/^invalid request: url \(url: /);
        expect(result.details).toMatch(/private, loopback, link-local/);
        for (const address of trick.dns?.onSave ?? [])
          expect(result.details).not.toContain(address);
      }
      await nothingStored();
    },
  );

  describe('when delivering (127.0.0.1 allowed for the receiver, as in development)', () => {
    const inside: Server = createServer((_request, response) => response.end('inside'));
    let insideConnections = 0;
    let insidePort: number;
    const redirector = new RecordingReceiver();
    const relaxed = { ALLOW_HTTP_ENDPOINTS: 'true', ENDPOINT_ALLOWED_NETWORKS: '127.0.0.1/32' };

    beforeAll(async () => {
      inside.on('connection', () => insideConnections++);
      // Every local address, IPv4 and IPv6: a loopback target that got through lands here.
      await new Promise<void>((resolve) => inside.listen(0, '::', resolve));
      insidePort = (inside.address() as AddressInfo).port;
      await redirector.start();
      // The rebinding name is public when the API checks it and loopback for the deliverer.
      await pipeline.restart('subscription-api', 'SIGTERM', {
        ...relaxed,
        ...dnsStub(ssrfHosts('onSave')),
      });
      await pipeline.restart('deliverer', 'SIGTERM', {
        ...relaxed,
        ...dnsStub(ssrfHosts('onConnect')),
      });
    });

    afterAll(async () => {
      inside.closeAllConnections();
      await new Promise((resolve) => inside.close(resolve));
      await redirector.stop();
    });

    async function firstAttempt(id: string): Promise<Record<string, unknown>> {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const logs = await http('GET', webhooks(`/${id}/logs`), apiKey);
        const attempts = logs.json.data as Array<Record<string, unknown>>;
        if (attempts.length > 0) return attempts[attempts.length - 1]!;
        await sleep(250);
      }
      throw new Error(`no delivery attempt for ${id} within 60 s`);
    }

    async function subscribeAndTest(url: string): Promise<string> {
      const created = await http('POST', webhooks(), apiKey, {
        url,
        events: ['message.delivered'],
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const id = created.json.id as string;
      const test = await http('POST', webhooks(`/${id}/test`), apiKey, {});
      expect(test.status, JSON.stringify(test.json)).toBe(202);
      return id;
    }

    it('checks a rebinding name on the address the deliverer connects to', async () => {
      const rebinding = SSRF_CORPUS.filter((t) => t.dns && t.dns.onSave !== t.dns.onConnect);
      expect(rebinding.length).toBeGreaterThan(0);
      for (const trick of rebinding) {
        const id = await subscribeAndTest(ssrfUrl(trick, 'http', insidePort));
        expect(await firstAttempt(id)).toMatchObject({
          attempt: 1,
          status: 'failed',
          http_status: null,
          error: expect.stringMatching(/^unresolvable_host: .*reserved address$/),
        });
        const { error } = (await firstAttempt(id)) as { error: string };
        for (const address of trick.dns!.onConnect) expect(error).not.toContain(address);
      }
      expect(insideConnections).toBe(0);
    });

    it('does not follow redirects to inside addresses, and logs the attempt failed', async () => {
      const redirects = SSRF_CORPUS.filter((t) => t.viaRedirect);
      redirector.respondWith((request) => {
        const trick = redirects[Number(request.path.split('/').pop())]!;
        return { status: 302, headers: { location: ssrfUrl(trick, 'http', insidePort) } };
      });
      const ids = await Promise.all(
        redirects.map((_trick, i) => subscribeAndTest(`${redirector.url}/redirect/${i}`)),
      );
      for (const id of ids) {
        expect(await firstAttempt(id)).toMatchObject({
          attempt: 1,
          status: 'failed',
          http_status: 302,
          error: 'HTTP 302 (redirects are not followed)',
        });
      }
      expect(redirector.requests.filter((r) => r.path.startsWith('/redirect/'))).toHaveLength(
        redirects.length,
      );
      expect(insideConnections).toBe(0);
    });
  });
});
