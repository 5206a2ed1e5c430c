import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { keepAliveDrain } from './keep-alive-drain.js';

/** A server as a service runs it: keep-alive for 65 s, answers after `answerMs`. */
async function serve(answerMs: number, streamed = false): Promise<Server> {
  const server = createServer((_req, res) => {
    if (streamed) {
      // Headers out at once, the body later: the answer's keep-alive is decided already.
      res.writeHead(200);
      res.write('o');
      setTimeout(() => res.end('k'), answerMs);
    } else setTimeout(() => res.end('ok'), answerMs);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const agents: Agent[] = [];
function client(server: Server) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  const { port } = server.address() as AddressInfo;
  return () =>
    new Promise<{ connection: string | undefined; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, agent }, (res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ connection: res.headers.connection, body }));
      })
        .on('error', reject)
        .end();
    });
}

/** Milliseconds from `close()` until the server has closed, or Infinity after `limitMs`. */
async function closeTime(server: Server, limitMs: number): Promise<number> {
  const started = Date.now();
  const closed = new Promise<number>((resolve) =>
    server.close(() => resolve(Date.now() - started)),
  );
  return Promise.race([closed, sleep(limitMs).then(() => Infinity)]);
}

afterEach(() => {
  for (const agent of agents.splice(0)) agent.destroy();
});

describe('keepAliveDrain', () => {
  it('without it, a connection busy at close keeps the server open after its answer', async () => {
    // What it is for: Node's close() leaves such a connection open until it falls idle
    // for the keep-alive timeout.
    const server = await serve(200);
    const get = client(server);
    const answer = get();
    await sleep(50);
    const ms = closeTime(server, 1_500);
    expect((await answer).connection).toBe('keep-alive');
    expect(await ms).toBe(Infinity);
    server.closeAllConnections();
  });

  it('answers the request in flight with Connection: close, and the server closes after it', async () => {
    const server = await serve(200);
    const get = client(server);
    const drain = keepAliveDrain(server);
    expect((await get()).connection).toBe('keep-alive');
    const answer = get();
    await sleep(50);
    drain.drain();
    const ms = closeTime(server, 5_000);
    expect(await answer).toEqual({ connection: 'close', body: 'ok' });
    expect(await ms).toBeLessThan(1_000);
  });

  it('closes while a client keeps sending requests on its connection', async () => {
    const server = await serve(20);
    const get = client(server);
    const drain = keepAliveDrain(server);
    let stop = false;
    const answers: Array<string | undefined> = [];
    const busy = (async () => {
      while (!stop) {
        // After the close the client connects again and is refused: that ends it.
        const answer = await get().catch(() => undefined);
        if (!answer) break;
        answers.push(answer.connection);
      }
    })();
    await sleep(200);
    // Drained while a request is in flight, not between two: a request sent just as its
    // connection falls idle meets a close whose answer could not say so (the client
    // would see a reset, as HTTP allows for an idle keep-alive connection).
    await once(server, 'request');
    drain.drain();
    const ms = await closeTime(server, 5_000);
    stop = true;
    await busy;
    expect(ms).toBeLessThan(1_000);
    expect(answers.at(-1)).toBe('close');
    expect(answers.filter((c) => c === 'keep-alive').length).toBeGreaterThan(0);
  });

  it('closes a connection whose answer had its headers out before the drain once it falls idle', async () => {
    const server = await serve(300, true);
    const get = client(server);
    const drain = keepAliveDrain(server);
    const answer = get();
    await sleep(100);
    drain.drain();
    const ms = closeTime(server, 5_000);
    expect(await answer).toEqual({ connection: 'keep-alive', body: 'ok' });
    expect(await ms).toBeLessThan(1_000);
  });
});
