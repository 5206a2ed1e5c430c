import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { now } from './clock.ts';

/**
 * The benchmark's webhook receiver, in a process of its own so that it competes for the
 * CPU as a customer's server would, not inside the load generator's event loop.
 *
 * Paths say how to answer:
 *   /ok/...     200 at once
 *   /slow/...   200 after 5 s
 *   /hang/...   never answers (the client's timeout ends it)
 *   /flaky/...  500 to the first two attempts of each webhook-id, then 200
 *
 * Each request's body carries the event's `bench_seq` and `bench_t0` (its scheduled
 * produce time, ms since the epoch); arrival is taken when the body has been read. The
 * parent asks for the records of a time window over IPC, and for the connections the
 * deliverer opened and closed: each one is a handshake, a socket to keep alive and, later,
 * a close, and closes come in bursts when connections opened together fall idle.
 */

/** One request as recorded (also the benchmark's view of it). */
export interface Arrival {
  seq: number;
  t0: number;
  t3: number;
  path: string;
  webhookId: string;
  status: number;
}

const arrivals: Arrival[] = [];
const flakyCalls = new Map<string, number>();
const SEQ = /"bench_seq":(\d+)/;
const T0 = /"bench_t0":([\d.]+)/;

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const t3 = now();
    const path = req.url ?? '/';
    const body = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
    const webhookId = String(req.headers['webhook-id'] ?? '');
    let status = 200;
    let delayMs = 0;
    if (path.startsWith('/hang/')) status = 0;
    else if (path.startsWith('/slow/')) delayMs = 5_000;
    else if (path.startsWith('/flaky/')) {
      const calls = (flakyCalls.get(webhookId) ?? 0) + 1;
      flakyCalls.set(webhookId, calls);
      if (calls <= 2) status = 500;
    }
    arrivals.push({
      seq: Number(SEQ.exec(body)?.[1] ?? -1),
      t0: Number(T0.exec(body)?.[1] ?? 0),
      t3,
      path,
      webhookId,
      status,
    });
    if (status === 0) return;
    const answer = () => {
      res.writeHead(status, { 'content-length': '0' });
      res.end();
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
});

/**
 * Connections accepted and closed since the parent last asked, open now, and most open at
 * once.
 */
let opened = 0;
let closed = 0;
let open = 0;
let mostOpen = 0;
server.on('connection', (socket) => {
  opened++;
  mostOpen = Math.max(mostOpen, ++open);
  socket.once('close', () => {
    open--;
    closed++;
  });
});

server.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});

interface Ask {
  take?: boolean;
  count?: boolean;
  prefix?: string;
  connections?: boolean;
}

process.on('message', (message: Ask) => {
  if (message.connections) {
    // Hands over the counts since the last ask and starts them again from now.
    process.send!({ connections: { opened, closed, most_open: mostOpen } });
    opened = 0;
    closed = 0;
    mostOpen = open;
  } else if (message.count) {
    const { prefix } = message;
    process.send!({
      count: prefix ? arrivals.filter((a) => a.path.startsWith(prefix)).length : arrivals.length,
    });
  } else if (message.take) {
    // Hands over everything recorded so far and starts a new window.
    process.send!({ arrivals: arrivals.splice(0) });
  }
});
process.on('disconnect', () => process.exit(0));
