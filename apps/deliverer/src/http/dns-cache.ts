import type { Resolver } from '@hookpost/domain';
import { withTimeout } from '@hookpost/platform';

type Answers = Awaited<ReturnType<Resolver>>;

export interface DnsCacheOptions {
  /** How long an answer is used. The system resolver does not say how long it may be. */
  ttlMs: number;
  /** How long a host that did not resolve is not asked about again. */
  failureTtlMs: number;
  /** How long a lookup may take before the request needing it gives up on it. */
  timeoutMs: number;
  /** Hosts remembered at most; when full, it starts over. */
  capacity: number;
}

const DEFAULTS: DnsCacheOptions = {
  ttlMs: 30_000,
  failureTtlMs: 10_000,
  timeoutMs: 5_000,
  capacity: 10_000,
};

/**
 * Endpoints' answers, kept a while. Every new connection needs its host's addresses, and
 * asking afresh each time would send a query per connection, and, for hosts whose name
 * servers do not answer, start a wait each time. So: one lookup at a time per host, its
 * answer kept a while, a failure too, and a request waits for a lookup no longer than
 * `timeoutMs`. (The lookups themselves hold none of libuv's threads: `hostResolver`.)
 * Every answer is still checked on each use (`resolveAndCheck`), so a cached answer
 * cannot reach a private network either.
 */
export class DnsCache {
  private readonly entries = new Map<
    string,
    { answers: Promise<Answers>; expires: number; settled: boolean }
  >();
  private readonly options: DnsCacheOptions;

  constructor(
    private readonly resolve: Resolver,
    options: Partial<DnsCacheOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** A Resolver that answers from this cache. */
  readonly resolver: Resolver = (host) => this.lookup(host);

  private lookup(host: string): Promise<Answers> {
    const cached = this.entries.get(host);
    if (cached?.settled && cached.expires > this.now()) return cached.answers;
    // A lookup still running is shared, however long it has run: a second lookup of the
    // same host would only hold a second thread.
    if (cached && !cached.settled) return this.waitAtMost(cached.answers, host);
    if (this.entries.size >= this.options.capacity) this.entries.clear();
    const entry = { answers: this.resolve(host), expires: Infinity, settled: false };
    this.entries.set(host, entry);
    entry.answers.then(
      () => {
        entry.settled = true;
        entry.expires = this.now() + this.options.ttlMs;
      },
      () => {
        entry.settled = true;
        entry.expires = this.now() + this.options.failureTtlMs;
      },
    );
    return this.waitAtMost(entry.answers, host);
  }

  private waitAtMost(answers: Promise<Answers>, host: string): Promise<Answers> {
    const { timeoutMs } = this.options;
    return withTimeout(answers, timeoutMs, `resolving ${host} took over ${timeoutMs} ms`);
  }
}
