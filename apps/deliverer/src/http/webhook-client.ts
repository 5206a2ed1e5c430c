import {
  BoundedCache,
  checkEndpointUrl,
  resolveAndCheck,
  type EndpointPolicy,
  type Resolver,
} from '@hookpost/domain';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promisify } from 'node:util';
import { Counter } from 'prom-client';
import { Agent, request } from 'undici';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type WebhookResponse =
  | { kind: 'response'; status: number; retryAfter: string | undefined; durationMs: number }
  | { kind: 'error'; error: string; durationMs: number };

const lookupAll = promisify(dnsLookup) as unknown as (
  host: string,
  options: { all: true; verbatim: true },
) => Promise<LookupAddress[]>;

const systemResolver: Resolver = async (host) =>
  (await lookupAll(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family as 4 | 6,
  }));

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
    resolve: Resolver = systemResolver,
  ) {
    this.agent = new Agent({
      // No cap per origin: concurrency is capped per subscription (ENDPOINT_CONCURRENCY)
      // and overall (DELIVERY_CONCURRENCY). Many subscriptions may share one host, and a
      // cap per origin would let one of them that hangs take every connection of the rest.
      connections: null,
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
    // A deadline for the whole request, cleared the moment it ends. AbortSignal.timeout
    // cannot be cleared: its timer and signal live the full timeout after every request
    // (at 1,500 requests/s and 10 s, 15,000 of them, 13 MB of heap measured on Node 24).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs).unref();
    const send = () =>
      request(checked.url, {
        method: 'POST',
        headers: webhook.headers,
        body: webhook.body,
        dispatcher: this.agent,
        signal: deadline.signal,
      });
    try {
      // A kept-alive connection that the receiver (or a proxy before it) closes just as
      // the request goes out fails with a reset and no answer. Sent again at once on a
      // new connection, like Go's HTTP client does for requests with an idempotency key:
      // the webhook-id is one, and the retry schedule would send it again anyway.
      const response = await send().catch((error: unknown) => {
        if (!closedUnderfoot(error) || deadline.signal.aborted) throw error;
        resends.inc();
        return send();
      });
      await response.body.dump({ limit: MAX_RESPONSE_BYTES }).catch(() => undefined);
      const retryAfter = response.headers['retry-after'];
      return {
        kind: 'response',
        status: response.statusCode,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        durationMs: elapsed(),
      };
    } catch (error) {
      return { kind: 'error', error: describeError(error), durationMs: elapsed() };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Aborts what is still in flight: by now its jobs were handed back uncommitted. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
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
    [codeOf(error), message ?? inner?.message].filter(Boolean).join(': ').slice(0, 300) ||
    'request failed'
  );
}
