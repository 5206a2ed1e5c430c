import { parseAllowedNetworks, resolveAndCheck, type Resolver } from '@hookpost/domain';
import { RecordingReceiver, SSRF_CORPUS, ssrfUrl, type SsrfTrick } from '@hookpost/testing';
import { createServer, type Server } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
} from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseExcerpt, storableReason, WebhookClient } from './webhook-client.js';

/**
 * The SSRF defence at connect time, against a real local HTTP server: the deliverer
 * connects only to addresses it checked itself, whatever a resolver said earlier.
 */
describe('WebhookClient at connect time', () => {
  const receiver = new RecordingReceiver();
  let port: number;
  const strict = { allowHttp: true, allowedNetworks: [] };
  const loopbackAllowed = { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8') };
  const post = (client: WebhookClient, host: string, path: string) =>
    client.post({
      url: `http://${host}:${port}${path}`,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

  beforeAll(async () => {
    await receiver.start();
    port = Number(new URL(receiver.url).port);
  });
  afterAll(() => receiver.stop());

  it('refuses a hostname that resolves to a private address, without sending anything', async () => {
    const client = new WebhookClient(strict, 2_000, () =>
      Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    );
    const result = await post(client, 'hooks.customer.example', '/private-name');
    expect(result).toMatchObject({ kind: 'error' });
    expect(result.kind === 'error' && result.error).toMatch(/^unresolvable_host: .*private/);
    expect(receiver.requests.filter((r) => r.path === '/private-name')).toHaveLength(0);
    await client.close();
  });

  it('refuses when the answer changes to a private address after the check at save time', async () => {
    let calls = 0;
    // DNS rebinding: public when the API checks, loopback when the deliverer connects.
    const rebinding: Resolver = () =>
      Promise.resolve([{ address: calls++ === 0 ? '93.184.215.14' : '127.0.0.1', family: 4 }]);
    await expect(resolveAndCheck('rebind.example', strict, rebinding)).resolves.toHaveLength(1);
    const client = new WebhookClient(strict, 2_000, rebinding);
    const result = await post(client, 'rebind.example', '/rebind');
    expect(result.kind).toBe('error');
    expect(receiver.requests.filter((r) => r.path === '/rebind')).toHaveLength(0);
    await client.close();
  });

  it('refuses IP literals in every spelling before connecting', async () => {
    const client = new WebhookClient(strict, 2_000);
    for (const host of [
      '127.0.0.1',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '[::ffff:127.0.0.1]',
      '[::1]',
      '0.0.0.0',
    ]) {
      const result = await post(client, host, '/literal');
      expect(result, host).toMatchObject({ kind: 'error' });
    }
    expect(receiver.requests.filter((r) => r.path === '/literal')).toHaveLength(0);
    await client.close();
  });

  it('connects to an allowed network, to the address it checked', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000, () =>
      Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    );
    const result = await post(client, 'hooks.customer.example', '/allowed');
    expect(result).toMatchObject({ kind: 'response', status: 200 });
    expect(receiver.requests.filter((r) => r.path === '/allowed')).toHaveLength(1);
    await client.close();
  });

  it('does not follow a redirect, even to an allowed address', async () => {
    receiver.respondWith((request) =>
      request.path === '/redirect'
        ? { status: 307, headers: { location: `http://127.0.0.1:${port}/landed` } }
        : { status: 200 },
    );
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const result = await post(client, '127.0.0.1', '/redirect');
    expect(result).toMatchObject({ kind: 'response', status: 307 });
    expect(receiver.requests.filter((r) => r.path === '/landed')).toHaveLength(0);
    await client.close();
  });

  it('times out a receiver that never answers', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 5_000 }));
    const client = new WebhookClient(loopbackAllowed, 300);
    const result = await post(client, '127.0.0.1', '/hang');
    expect(result).toMatchObject({ kind: 'error', error: 'timeout' });
    expect(result.durationMs).toBeLessThan(2_000);
    await client.close();
  });
});

/**
 * A receiver that closes a kept-alive connection just as the next request arrives on it
 * (its idle timeout racing the client's reuse), over raw TCP so the race is certain.
 */
describe('WebhookClient on a connection closed under it', () => {
  let server: NetServer;
  let port: number;
  /** What each connection does with its n-th request: answer it, or close without a word. */
  let onRequest: (connection: number, nth: number) => 'answer' | 'close';
  let requests: Array<{ connection: number; nth: number }> = [];
  const loopbackAllowed = { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8') };

  beforeAll(async () => {
    let connections = 0;
    server = createNetServer((socket) => {
      const connection = ++connections;
      let nth = 0;
      let buffered = '';
      socket.on('data', (chunk) => {
        buffered += chunk.toString('latin1');
        // Each test request is small and carries a Content-Length body of '{}'.
        while (buffered.includes('\r\n\r\n') && buffered.split('\r\n\r\n', 2)[1]!.length >= 2) {
          const end = buffered.indexOf('\r\n\r\n') + 4 + 2;
          buffered = buffered.slice(end);
          nth++;
          requests.push({ connection, nth });
          if (onRequest(connection, nth) === 'close') {
            socket.destroy();
            return;
          }
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=60\r\n\r\nok');
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const post = (client: WebhookClient) =>
    client.post({
      url: `http://127.0.0.1:${port}/hook`,
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
      body: '{}',
    });

  it('sends again at once on a new connection, and gets the answer', async () => {
    requests = [];
    onRequest = (connection, nth) => (connection === 1 && nth === 2 ? 'close' : 'answer');
    const client = new WebhookClient(loopbackAllowed, 2_000);
    expect(await post(client)).toMatchObject({ kind: 'response', status: 200 });
    // Idle a moment, so that the connection is back in the pool for the next request.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await post(client)).toMatchObject({ kind: 'response', status: 200 });
    // The second webhook went out twice: on the reused connection, then on a new one.
    expect(requests).toEqual([
      { connection: 1, nth: 1 },
      { connection: 1, nth: 2 },
      { connection: 2, nth: 1 },
    ]);
    await client.close();
  });

  it('sends again only once: a receiver that always closes gets an error back', async () => {
    requests = [];
    onRequest = () => 'close';
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const result = await post(client);
    expect(result.kind).toBe('error');
    expect(result.kind === 'error' && result.error).toMatch(/UND_ERR_SOCKET|ECONNRESET|EPIPE/);
    expect(requests).toHaveLength(2);
    await client.close();
  });
});

/**
 * Every trick of the SSRF corpus at connect time, against a real listener on every local
 * address (IPv4 and IPv6): a loopback spelling that got through would reach it. DNS
 * answers come through the client's resolver; a rebinding name answers differently on
 * the save-time check and on the connect.
 */
describe('WebhookClient against the SSRF corpus', () => {
  const inside: Server = createServer((_request, response) => response.end('inside'));
  let connections = 0;
  let port: number;
  const redirector = new RecordingReceiver();
  const strict = { allowHttp: true, allowedNetworks: [] };
  /** As the test pipeline runs: plain http, and 127.0.0.1 (the redirector) allowed. */
  const receiverAllowed = {
    allowHttp: true,
    allowedNetworks: parseAllowedNetworks('127.0.0.1/32'),
  };

  /** Answers a trick's save-time DNS answers to the first lookup, its connect-time ones after. */
  function resolverFor(trick: SsrfTrick): Resolver {
    let calls = 0;
    return (host) => {
      const hostname = new URL(ssrfUrl(trick, 'http')).hostname;
      if (!trick.dns || host !== hostname) return Promise.reject(new Error(`ENOTFOUND ${host}`));
      const answers = calls++ === 0 ? trick.dns.onSave : trick.dns.onConnect;
      return Promise.resolve(
        answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const),
      );
    };
  }
  const send = (client: WebhookClient, url: string) =>
    client.post({ url, headers: { 'content-type': 'application/json' }, body: '{}' });

  beforeAll(async () => {
    inside.on('connection', () => connections++);
    await new Promise<void>((resolve) => inside.listen(0, '::', resolve));
    port = (inside.address() as AddressInfo).port;
    await redirector.start();
  });
  afterAll(async () => {
    inside.closeAllConnections();
    await new Promise((resolve) => inside.close(resolve));
    await redirector.stop();
  });

  it('reaches the listener when loopback is allowed, so a refusal below is the check', async () => {
    const open = { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8,::1') };
    const loopback = SSRF_CORPUS.find((t) => t.name === 'another loopback address')!;
    const client = new WebhookClient(open, 2_000);
    expect(await send(client, ssrfUrl(loopback, 'http', port))).toMatchObject({
      kind: 'response',
      status: 200,
    });
    expect(connections).toBe(1);
    connections = 0;
    await client.close();
  });

  it.each(SSRF_CORPUS.map((trick) => [trick.name, trick] as const))(
    'refuses %s when connecting, and the listener gets nothing',
    async (_name, trick) => {
      const resolve = resolverFor(trick);
      if (trick.dns) {
        // The save-time check sees the name's first answer: a rebinding name passes it.
        const atSave = resolveAndCheck(new URL(ssrfUrl(trick, 'http')).hostname, strict, resolve);
        if (trick.dns.onSave === trick.dns.onConnect) await expect(atSave).rejects.toThrow();
        else await expect(atSave).resolves.toEqual([{ address: trick.dns.onSave[0], family: 4 }]);
      }
      const client = new WebhookClient(strict, 2_000, resolve);
      const result = await send(client, ssrfUrl(trick, 'http', port));
      expect(result.kind).toBe('error');
      // A name is refused as one that does not resolve would be (resolveAndCheck).
      expect(result.kind === 'error' && result.error).toMatch(
        trick.dns ? /^unresolvable_host: / : /^address_not_allowed: /,
      );
      expect(connections).toBe(0);
      await client.close();
    },
  );

  it.each(SSRF_CORPUS.filter((t) => t.viaRedirect).map((trick) => [trick.name, trick] as const))(
    'does not follow a %s: the attempt is a failed 3xx',
    async (_name, trick) => {
      const location = ssrfUrl(trick, 'http', port);
      for (const status of [301, 302, 303, 307, 308]) {
        redirector.respondWith(() => ({ status, headers: { location } }));
        const client = new WebhookClient(receiverAllowed, 2_000);
        const result = await send(client, `${redirector.url}/redirect-${status}`);
        expect(result).toMatchObject({ kind: 'response', status });
        await client.close();
      }
      expect(connections).toBe(0);
    },
  );
});

/** What the client makes of an answer: its status and Retry-After, whatever the body does. */
describe('WebhookClient reading answers', () => {
  let server: Server;
  let port: number;
  let connections = 0;
  const loopbackAllowed = { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8') };

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      if (request.url === '/long') {
        // Far more than the client reads of a body.
        response.writeHead(503, { 'retry-after': '7', 'content-length': String(1 << 20) });
        response.end(Buffer.alloc(1 << 20, 'x'));
      } else if (request.url === '/stall') {
        response.writeHead(200, { 'content-length': '100' });
        response.write('only part of it');
      } else if (request.url === '/refused') {
        response.writeHead(422, { 'content-type': 'application/json' });
        response.end('{"error":"unknown customer"}\n');
      } else if (request.url === '/hints') {
        response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        response.writeHead(204).end();
      } else {
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      }
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });

  const post = (client: WebhookClient, path: string) =>
    client.post({
      url: `http://127.0.0.1:${port}${path}`,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

  it('reads a short answer to its end and keeps the connection for the next request', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const before = connections;
    expect(await post(client, '/ok')).toMatchObject({ kind: 'response', status: 200 });
    // Idle a moment, so that the connection is back in the pool for the next request.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await post(client, '/ok')).toMatchObject({ kind: 'response', status: 200 });
    expect(connections - before).toBe(1);
    await client.close();
  });

  it('sends requests back to back over one connection', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const before = connections;
    for (let i = 0; i < 20; i++) {
      expect(await post(client, '/ok')).toMatchObject({ kind: 'response', status: 200 });
    }
    expect(connections - before).toBe(1);
    await client.close();
  });

  it('holds one connection per request in flight, each worker sending back to back', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const before = connections;
    const workers = 16;
    const statuses = await Promise.all(
      Array.from({ length: workers }, async () => {
        const seen: number[] = [];
        for (let i = 0; i < 25; i++) {
          const answer = await post(client, '/ok');
          seen.push(answer.kind === 'response' ? answer.status : 0);
        }
        return seen;
      }),
    );
    expect(statuses.flat().every((status) => status === 200)).toBe(true);
    // At most the one spare the pool opens ahead when all of its connections are busy.
    expect(connections - before).toBeLessThanOrEqual(workers + 1);
    await client.close();
  });

  it('answers with the status and Retry-After of a long answer, without reading all of it', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const before = connections;
    expect(await post(client, '/long')).toMatchObject({
      kind: 'response',
      status: 503,
      retryAfter: '7',
    });
    // The connection was given up; the next request needs a new one.
    expect(await post(client, '/ok')).toMatchObject({ kind: 'response', status: 200 });
    expect(connections - before).toBe(2);
    await client.close();
  });

  it("keeps the start of a failure's answer, and nothing of a success's", async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    expect(await post(client, '/refused')).toMatchObject({
      kind: 'response',
      status: 422,
      body: '{"error":"unknown customer"}\n',
    });
    const long = await post(client, '/long');
    expect(long).toMatchObject({ kind: 'response', status: 503, body: 'x'.repeat(1_024) });
    const ok = await post(client, '/ok');
    expect(ok).toMatchObject({ kind: 'response', status: 200 });
    expect(ok.kind === 'response' && ok.body).toBeUndefined();
    await client.close();
  });

  it('answers with the status of a body that stalls, at the deadline', async () => {
    const client = new WebhookClient(loopbackAllowed, 300);
    const result = await post(client, '/stall');
    expect(result).toMatchObject({ kind: 'response', status: 200 });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    expect(result.durationMs).toBeLessThan(2_000);
    await client.close();
  });

  it('waits past informational answers for the final one', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000);
    expect(await post(client, '/hints')).toMatchObject({ kind: 'response', status: 204 });
    await client.close();
  });
});

describe('storableReason', () => {
  it('leaves nothing in a reason that Postgres refuses in jsonb', () => {
    expect(storableReason('ERR_TLS_CERT_ALTNAME_INVALID: a\u0000b\nc', 300)).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID: a b c',
    );
    // Cut in the middle of a pair: its first half alone would be refused.
    const cut = storableReason(`${'x'.repeat(9)}\u{1F600}`, 10);
    expect(cut).toBe(`${'x'.repeat(9)}\uFFFD`);
    expect(cut.isWellFormed()).toBe(true);
    expect(storableReason('lone \udc00 half', 300)).toBe('lone \uFFFD half');
  });
});

describe('responseExcerpt', () => {
  it('keeps text and line breaks, and leaves nothing Postgres refuses', () => {
    expect(responseExcerpt(Buffer.from('line 1\r\n\tline 2\u0000\u001b[0m'))).toBe(
      'line 1\r\n\tline 2  [0m',
    );
    expect(responseExcerpt(Buffer.from([0x6f, 0x6b, 0xff, 0x21]))).toBe('ok\uFFFD!');
    expect(responseExcerpt(Buffer.from([0x6f, 0x6b, 0xff]))).toBe('ok\uFFFD');
  });

  it('keeps the first 1,024 bytes, and no half of a character cut there', () => {
    const cutInHalf = Buffer.concat([Buffer.alloc(1_023, 'a'), Buffer.from('é')]);
    expect(responseExcerpt(cutInHalf)).toBe('a'.repeat(1_023));
    expect(responseExcerpt(Buffer.alloc(5_000, 'b'))).toHaveLength(1_024);
  });
});
