import {
  BoundedCache,
  checkEndpointUrl,
  resolveAndCheck,
  type EndpointPolicy,
  type Resolver,
} from '@hookpost/domain';
import { RESPONSE_EXCERPT_BYTES } from '@hookpost/contracts';
import { hostResolver } from '@hookpost/platform';
import type { LookupAddress } from 'node:dns';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter } from 'prom-client';
import { Agent, type Dispatcher } from 'undici';
import { DnsCache } from './dns-cache.js';
import { FreeListPool } from './free-list-pool.js';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type WebhookResponse =
  | {
      kind: 'response';
      status: number;
      retryAfter: string | undefined;
      /** The start of the body of an answer that is not a 2xx (responseExcerpt). */
      body?: string;
      durationMs: number;
    }
  | { kind: 'error'; error: string; durationMs: number };

/** Bytes of a response body read before the connection is let go. */
const MAX_RESPONSE_BYTES = 4_096;

/**
 * POSTs webhooks. Keep-alive connections, pooled per origin; redirects are not followed
 * (undici follows none unless told); at most a few KiB of a response is read; TLS 1.2
 * or newer. The SSRF check runs at connect time: the host is resolved here, every
 * address checked, and the socket connects to a checked address, so a DNS answer that
 * changes between a check and the connect (rebinding) cannot reach a private network.
 */
export class WebhookClient {
  private readonly agent: Agent;
  /** The verdict on each URL: it depends only on the URL and the policy, both fixed. */
  private readonly checkedUrls = new BoundedCache<ReturnType<typeof checkEndpointUrl>>();

  constructor(
    private readonly policy: EndpointPolicy,
    private readonly timeoutMs: number,
    resolve: Resolver = new DnsCache(hostResolver({ timeoutMs: 5_000, systemConcurrency: 2 }))
      .resolver,
  ) {
    this.agent = new Agent({
      // No cap per origin: concurrency is capped per subscription (ENDPOINT_CONCURRENCY)
      // and overall (DELIVERY_CONCURRENCY). Many subscriptions may share one host, and a
      // cap per origin would let one of them that hangs take every connection of the rest.
      connections: null,
      factory: (origin, options) => new FreeListPool(origin, options),
      keepAliveTimeout: 30_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connect: {
        timeout: timeoutMs,
        minVersion: 'TLSv1.2',
        lookup: (hostname, options, callback) => {
          resolveAndCheck(hostname, this.policy, resolve).then(
            (addresses) => {
              const wantsAll = (options as { all?: boolean }).all === true;
              if (wantsAll) (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
              else callback(null, addresses[0]!.address, addresses[0]!.family);
            },
            (error: Error) => callback(error, '', 0),
          );
        },
      },
    });
  }

  async post(webhook: WebhookRequest): Promise<WebhookResponse> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    // IP literals never reach `lookup`; they are checked here.
    const checked = this.checkedUrls.get(webhook.url, () =>
      checkEndpointUrl(webhook.url, this.policy),
    );
    if (!checked.ok)
      return { kind: 'error', error: `${checked.code}: ${checked.message}`, durationMs: elapsed() };
    // A deadline for the whole request, cleared the moment it ends (AbortSignal.timeout's
    // timer and signal would live the full timeout after every request: at 1,500
    // requests/s and 10 s, 15,000 of them, 13 MB of heap measured on Node 24).
    const deadline = new Deadline(this.timeoutMs);
    const send = () => exchange(this.agent, checked.url, webhook, deadline);
    try {
      // A kept-alive connection that the receiver (or a proxy before it) closes just as
      // the request goes out fails with a reset and no answer. Sent again at once on a
      // new connection, like Go's HTTP client does for requests with an idempotency key:
      // the webhook-id is one, and the retry schedule would send it again anyway.
      const answer = await send().catch((error: unknown) => {
        if (!closedUnderfoot(error) || deadline.expired) throw error;
        resends.inc();
        return send();
      });
      const durationMs = elapsed();
      // undici hands a kept-alive connection its next request only a loop turn after the
      // answer (a `setImmediate`, in case the server closes it after all). Returning
      // before then, the caller's next request, or the job that takes its slot, finds the
      // connection still busy and opens another: the deliverer held about two
      // connections per request in flight, each to be kept alive and closed again.
      // Waiting that one turn here, it takes the connection freed for it.
      await nextTurn();
      return { kind: 'response', ...answer, durationMs };
    } catch (error) {
      return { kind: 'error', error: describeError(error), durationMs: elapsed() };
    } finally {
      deadline.clear();
    }
  }

  /** Aborts what is still in flight: by now its jobs were handed back uncommitted. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/**
 * The time left for one webhook, across a resend: when it runs out, the request in
 * flight is aborted, or the next one as soon as it starts (a request still waiting for
 * its connection cannot be aborted; the connect timeout ends that wait).
 */
class Deadline {
  expired = false;
  private current: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.current?.abort(timedOut());
    }, ms).unref();
  }

  /** A request of this webhook starts: aborted at once if the time is up. */
  started(controller: Dispatcher.DispatchController): void {
    if (this.expired) controller.abort(timedOut());
    else this.current = controller;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.current = undefined;
  }
}

const timedOut = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });

/**
 * One POST through the agent's handler interface, not `request`: no response stream, no
 * abort-signal listeners and no async resource per request, which cost the deliverer
 * measurable time at thousands of requests a second. The answer is its status,
 * `Retry-After`, and for a status that is not a 2xx the start of its body (for the
 * delivery log); the rest is read and dropped, and a body longer than
 * MAX_RESPONSE_BYTES, or one that stalls past the deadline, ends the connection without
 * changing the answer.
 */
function exchange(
  agent: Agent,
  url: URL,
  webhook: WebhookRequest,
  deadline: Deadline,
): Promise<{ status: number; retryAfter: string | undefined; body?: string }> {
  return new Promise((resolve, reject) => {
    let answer: { status: number; retryAfter: string | undefined; body?: string } | undefined;
    let bodyBytes = 0;
    // The start of a failure's body, for the delivery log; a success's is not kept.
    let excerpt: Buffer[] | undefined;
    let excerptBytes = 0;
    // Once the status line has come, the answer stands whatever happens to the body.
    const settle = (error: Error) => {
      if (!answer) return reject(error);
      if (excerpt) answer.body = responseExcerpt(Buffer.concat(excerpt));
      resolve(answer);
    };
    agent.dispatch(
      {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: webhook.headers,
        body: webhook.body,
      },
      {
        onRequestStart: (controller) => deadline.started(controller),
        onResponseStart: (_controller, status, headers) => {
          if (status < 200) return; // 1xx: the answer is still to come
          const retryAfter = headers['retry-after'];
          answer = { status, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
          if (status >= 300) excerpt = [];
        },
        onResponseData: (controller, chunk) => {
          bodyBytes += chunk.length;
          if (excerpt && excerptBytes < RESPONSE_EXCERPT_BYTES) {
            // A copy: the chunk may be a view of a buffer the connection goes on using.
            excerpt.push(Buffer.from(chunk.subarray(0, RESPONSE_EXCERPT_BYTES - excerptBytes)));
            excerptBytes += Math.min(chunk.length, RESPONSE_EXCERPT_BYTES - excerptBytes);
          }
          if (bodyBytes > MAX_RESPONSE_BYTES) controller.abort(new Error('response too long'));
        },
        onResponseEnd: () => settle(new Error('no final answer')),
        // After the status line, a failure only cuts the body short.
        onResponseError: (_controller, error) => settle(error),
      },
    );
  });
}

const resends = new Counter({
  name: 'hookpost_delivery_resends_total',
  help: 'Requests sent again at once because their connection was closed before any answer',
});

/** The connection was closed or reset before any answer came. */
function closedUnderfoot(error: unknown): boolean {
  return CLOSED_UNDERFOOT.has(codeOf(error) ?? '');
}
const CLOSED_UNDERFOOT = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The error's code, or its cause's (fetch-style errors wrap the socket's). */
function codeOf(error: unknown): string | undefined {
  const { code, cause } = error as { code?: string; cause?: { code?: string } };
  return code ?? cause?.code;
}

/** A short, secret-free reason: the error's code and message, never headers or body. */
function describeError(error: unknown): string {
  const { name, message, cause } = error as { name?: string; message?: string; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  const inner = cause as { message?: string } | undefined;
  return (
    storableReason([codeOf(error), message ?? inner?.message].filter(Boolean).join(': '), 300) ||
    'request failed'
  );
}

/**
 * The start of an answer's body as text for the delivery log: decoded as UTF-8 (what is
 * not becomes U+FFFD), NUL and the other control characters but tab and line breaks as
 * spaces (Postgres refuses a NUL), and a character cut in half at the end dropped. The
 * customer's own endpoint wrote it; only that customer reads it.
 */
export function responseExcerpt(bytes: Buffer): string {
  const text = bytes.subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
  // A multi-byte character cut by the limit decodes as U+FFFD at the very end.
  const whole = bytes.length >= RESPONSE_EXCERPT_BYTES ? text.replace(/\ufffd$/, '') : text;
  // eslint-disable-next-line no-control-regex
  return whole.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ').toWellFormed();
}

/**
 * `text` cut to `max` UTF-16 units for the attempt log, which stores it in Postgres:
 * control characters become spaces, and half a surrogate pair left by the cut (or
 * brought by the message: a receiver's certificate names, say) becomes U+FFFD. Postgres
 * refuses a NUL and half a pair in `jsonb`, and the attempt log's insert would fail on
 * every try.
 */
export function storableReason(text: string, max: number): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, ' ')
      .slice(0, max)
      .toWellFormed()
  );
}
