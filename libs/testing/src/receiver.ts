import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

/** The Standard Webhooks headers of a received request, as a verifier takes them. */
export function standardWebhookHeaders(request: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
}

export type Responder = (request: ReceivedRequest) => {
  status: number;
  headers?: Record<string, string>;
  /** What the answer says, if anything. */
  body?: string | Buffer;
  delayMs?: number;
};

/**
 * A real HTTP endpoint on 127.0.0.1 that reads each request whole and hands it to
 * `receive`, which answers it.
 */
export abstract class LocalReceiver {
  protected readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () =>
        this.receive(
          {
            path: req.url ?? '/',
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            receivedAt: Date.now(),
          },
          res,
        ),
      );
    });
  }

  protected abstract receive(request: ReceivedRequest, res: ServerResponse): void;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A real HTTP endpoint that records every request it gets (raw body, headers, arrival
 * time) and answers as told: the stand-in for a customer's webhook receiver.
 */
export class RecordingReceiver extends LocalReceiver {
  readonly requests: ReceivedRequest[] = [];
  private responder: Responder = () => ({ status: 200 });
  private readonly waiters = new Set<() => void>();

  protected receive(request: ReceivedRequest, res: ServerResponse): void {
    this.requests.push(request);
    for (const wake of this.waiters) wake();
    const answer = this.responder(request);
    setTimeout(() => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    }, answer.delayMs ?? 0);
  }

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  /** Resolves with the matching requests once `count` of them arrived; rejects after the timeout. */
  async waitFor(
    predicate: (request: ReceivedRequest) => boolean,
    count = 1,
    timeoutMs = 15_000,
  ): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.requests.filter(predicate);
      if (found.length >= count) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `receiver got ${found.length} of ${count} expected requests in ${timeoutMs} ms`,
        );
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }
}
