import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FreeListPool } from './free-list-pool.js';

/**
 * The pool against a real HTTP server that can hold its answers until told: how many
 * connections it opens, which one each request used, and what happens to connections
 * the server closes.
 */
describe('FreeListPool', () => {
  let server: Server;
  let origin: string;
  let opened = 0;
  let holding = false;
  let held: Array<() => void> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      const answer = () =>
        res.writeHead(200, { 'x-port': String(req.socket.remotePort) }).end('ok');
      if (holding) held.push(answer);
      else answer();
    });
    server.on('connection', () => opened++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });

  const withAgent = async (test: (agent: Agent) => Promise<void>) => {
    const agent = new Agent({
      connections: null,
      factory: (o, options) => new FreeListPool(o, options),
    });
    try {
      await test(agent);
    } finally {
      holding = false;
      held.forEach((answer) => answer());
      held = [];
      await agent.close();
    }
  };
  const post = async (dispatcher: Agent) => {
    const response = await request(`${origin}/`, { method: 'POST', body: '{}', dispatcher });
    await response.body.text();
    return { status: response.statusCode, port: Number(response.headers['x-port']) };
  };
  /** Sends `count` requests that the server answers only once all of them arrived. */
  const heldTogether = async (agent: Agent, count: number) => {
    holding = true;
    const answers = Array.from({ length: count }, () => post(agent));
    while (held.length < count) await sleep(5);
    holding = false;
    held.forEach((answer) => answer());
    held = [];
    return Promise.all(answers);
  };

  it('runs one request at a time on each connection, and reuses freed connections', () =>
    withAgent(async (agent) => {
      const before = opened;
      const first = await heldTogether(agent, 200);
      expect(first.every((r) => r.status === 200)).toBe(true);
      // Each request in flight had a connection of its own; at most one more was opened
      // ahead, as the pool does when all of its connections are busy.
      expect(new Set(first.map((r) => r.port)).size).toBe(200);
      expect(opened - before).toBeLessThanOrEqual(201);

      // A connection is free again once the client has seen its answer end.
      await sleep(50);
      const reopened = opened;
      const second = await heldTogether(agent, 200);
      expect(second.every((r) => r.status === 200)).toBe(true);
      expect(opened).toBe(reopened);
    }));

  it('sends requests one after another over the connection freed last', () =>
    withAgent(async (agent) => {
      const before = opened;
      const ports = new Set<number>();
      for (let i = 0; i < 20; i++) {
        ports.add((await post(agent)).port);
        // Until the client has seen the answer end, the connection is still busy.
        await sleep(10);
      }
      expect(ports.size).toBe(1);
      expect(opened - before).toBe(1);
    }));

  it('does not hand out a connection the server closed, and opens a new one', () =>
    withAgent(async (agent) => {
      const first = await post(agent);
      server.closeAllConnections();
      // Let the client see the close.
      await sleep(50);
      const second = await post(agent);
      expect(second.status).toBe(200);
      expect(second.port).not.toBe(first.port);
    }));

  it('finishes its requests on close, and refuses new ones after', async () => {
    const agent = new Agent({
      connections: null,
      factory: (o, options) => new FreeListPool(o, options),
    });
    holding = true;
    const pending = post(agent);
    while (held.length < 1) await sleep(5);
    const closing = agent.close();
    holding = false;
    held.forEach((answer) => answer());
    held = [];
    expect((await pending).status).toBe(200);
    await closing;
    await expect(post(agent)).rejects.toThrow(/closed|destroyed/i);
  });
});

/**
 * Over TLS the `Pool` holds requests back while its first connection learns, by ALPN,
 * whether the origin speaks HTTP/2: one connection then carries them all, or, over
 * HTTP/1.1, each gets its own. Both ways through the pool, with a certificate made for
 * this run.
 */
describe('FreeListPool over TLS', () => {
  let dir: string;
  let tls: { key: Buffer; cert: Buffer };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hookpost-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const agent = () =>
    new Agent({
      connections: null,
      factory: (o, options) => new FreeListPool(o, options),
      connect: { ca: tls.cert },
    });
  const post = async (dispatcher: Agent, origin: string) => {
    const response = await request(`${origin}/`, { method: 'POST', body: '{}', dispatcher });
    await response.body.text();
    return response.statusCode;
  };
  const listen = async (server: Server | Http2SecureServer) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it('gives each request in flight a connection of its own over HTTP/1.1, and reuses them', async () => {
    let held: Array<() => void> = [];
    let opened = 0;
    const server = createTlsServer(tls, (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      held.push(() => res.end('ok'));
    });
    server.on('secureConnection', () => opened++);
    const origin = await listen(server);
    const dispatcher = agent();
    try {
      const wave = async () => {
        const answers = Array.from({ length: 30 }, () => post(dispatcher, origin));
        while (held.length < 30) await sleep(5);
        held.forEach((answer) => answer());
        held = [];
        return Promise.all(answers);
      };
      expect(await wave()).toEqual(Array(30).fill(200));
      expect(opened).toBeGreaterThanOrEqual(30);
      expect(opened).toBeLessThanOrEqual(31);
      await sleep(50);
      const before = opened;
      expect(await wave()).toEqual(Array(30).fill(200));
      expect(opened).toBe(before);
    } finally {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('sends every request over one connection to an HTTP/2 origin', async () => {
    let sessions = 0;
    const server = createSecureServer(tls, (req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    server.on('session', () => sessions++);
    const origin = await listen(server);
    const dispatcher = agent();
    try {
      const answers = await Promise.all(Array.from({ length: 30 }, () => post(dispatcher, origin)));
      expect(answers).toEqual(Array(30).fill(200));
      expect(sessions).toBe(1);
    } finally {
      await dispatcher.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
