import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { Gauge } from 'prom-client';

export interface BreakerSettings {
  /** Failure share in the window at which the breaker opens. */
  errorThresholdPercentage: number;
  /** Requests the window must hold before the breaker may open. */
  volumeThreshold: number;
  /** Length of the rolling window. */
  windowMs: number;
  /** Buckets the window is divided into; one shared timer rotates every breaker's buckets. */
  buckets: number;
  /** Time open before one trial request is let through (half-open). */
  resetTimeoutMs: number;
  /** A closed breaker unused this long is dropped; its endpoint gets a fresh one next time. */
  idleMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  windowMs: 30_000,
  buckets: 6,
  resetTimeoutMs: 30_000,
  idleMs: 10 * 60_000,
};

type Run = () => Promise<unknown>;

/** Thrown inside the breaker so that an unhealthy answer counts as a failure. */
class Unhealthy {
  constructor(readonly value: unknown) {}
}

export type Guarded<T> = { kind: 'sent'; value: T } | { kind: 'open' };

/** The breakers whose states the gauge reports (the service has one set). */
let reported: (() => Record<string, number>) | undefined;

new Gauge({
  name: 'hookpost_circuit_breakers',
  help: 'Endpoint circuit breakers by state (counts, not a series per endpoint)',
  labelNames: ['state'],
  collect() {
    const counts = reported?.() ?? { closed: 0, open: 0, half_open: 0 };
    for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
  },
});

interface Entry {
  breaker: CircuitBreaker<[Run], unknown>;
  lastUsed: number;
  /** The URL its requests go to (`follow`). */
  url?: string;
  /** When each request still waiting for an answer was sent, oldest first. */
  pending: number[];
  /** How long its last ENDPOINT_ANSWERS requests that ended took, answered or failed. */
  recent: number[];
  /** Their median. */
  recentMs: number;
}

/**
 * Answers an endpoint's answer time is judged by: their median, so that one slow answer
 * among quick ones does not make the endpoint slow. A connection attempt dropped by a
 * receiver's full accept queue is sent again only after 1 s (TCP's initial retransmission
 * timeout): a deliverer that opened hundreds of connections at once to one host, working
 * off a backlog, saw single answers of 1.37 s among answers of 0.2 s, and put off the
 * jobs of four healthy endpoints by a retry delay (docs/performance.md).
 */
const ENDPOINT_ANSWERS = 5;

/**
 * One opossum breaker per endpoint, sized for thousands of endpoints: no per-breaker
 * interval timers (one shared emitter rotates every window; snapshots and latency
 * percentiles are off; the action has no opossum timeout because the HTTP client has its
 * own), and breakers left idle are dropped, open ones too: an endpoint that gets no jobs
 * (its subscription deleted or quiet) would otherwise keep a half-open breaker for good. Open breakers hold one reset timer
 * each, so the timers scale with failing endpoints, not with all of them. Beside each
 * breaker, how long its endpoint takes to answer (`answerMs`).
 */
export class EndpointBreakers {
  private readonly breakers = new Map<string, Entry>();
  private readonly rotation = new EventEmitter().setMaxListeners(0);
  private readonly answers = new RecentAnswers();
  private readonly timers: NodeJS.Timeout[];

  constructor(private readonly settings: BreakerSettings = DEFAULT_BREAKER_SETTINGS) {
    this.timers = [
      setInterval(() => this.rotation.emit('rotate'), settings.windowMs / settings.buckets),
      setInterval(() => this.evictIdle(), Math.min(settings.idleMs, 60_000)),
    ];
    this.timers.forEach((timer) => timer.unref());
    reported = () => this.counts();
  }

  /**
   * Runs `send` through the endpoint's breaker. An answer that `unhealthy` flags, or a
   * rejection, counts as a failure; while the breaker is open nothing is sent.
   */
  async run<T>(
    endpoint: string,
    send: () => Promise<T>,
    unhealthy: (value: T) => boolean,
  ): Promise<Guarded<T>> {
    const entry = this.entry(endpoint);
    entry.lastUsed = Date.now();
    try {
      const value = (await entry.breaker.fire(async () => {
        const sentAt = performance.now();
        entry.pending.push(sentAt);
        try {
          const result = await send();
          if (unhealthy(result)) throw new Unhealthy(result);
          return result;
        } finally {
          entry.pending.splice(entry.pending.indexOf(sentAt), 1);
          const answerMs = performance.now() - sentAt;
          if (entry.recent.push(answerMs) > ENDPOINT_ANSWERS) entry.recent.shift();
          entry.recentMs = lowerMedian(entry.recent);
          this.answers.add(answerMs);
        }
      })) as T;
      return { kind: 'sent', value };
    } catch (error) {
      if (error instanceof Unhealthy) return { kind: 'sent', value: error.value as T };
      if ((error as { code?: string }).code === 'EOPENBREAKER') return { kind: 'open' };
      throw error;
    }
  }

  /**
   * The endpoint now sends to `url`: a breaker that opened for another URL is dropped, so
   * a subscription moved off a dead URL is not refused for that URL's failures.
   */
  follow(endpoint: string, url: string): void {
    const entry = this.breakers.get(endpoint);
    if (entry?.url === url) return;
    if (entry?.url !== undefined) {
      entry.breaker.shutdown();
      this.breakers.delete(endpoint);
    }
    this.entry(endpoint).url = url;
  }

  /**
   * Whether the endpoint's breaker would refuse a request now: open, or half-open with its
   * one trial request already under way. Asked before a request is signed and queued, so
   * that refused jobs cost neither.
   */
  refuses(endpoint: string): boolean {
    const breaker = this.breakers.get(endpoint)?.breaker;
    return breaker !== undefined && !breaker.closed && !breaker.pendingClose;
  }

  /**
   * How long the endpoint takes to answer, in ms: the median of its last ENDPOINT_ANSWERS
   * answers' times, or longer while a request still waits for one (a hanging endpoint has
   * no answer to go by). 0 for an endpoint not seen lately.
   */
  answerMs(endpoint: string): number {
    const entry = this.breakers.get(endpoint);
    if (!entry) return 0;
    const oldest = entry.pending[0];
    return Math.max(entry.recentMs, oldest === undefined ? 0 : performance.now() - oldest);
  }

  /**
   * How long the deliverer's answers typically take, across endpoints, in ms: the median
   * of the last RECENT_ANSWERS, 0 before any. It rises with every answer when the
   * deliverer itself is behind, and hardly at all when one endpoint of many is slow.
   */
  typicalAnswerMs(): number {
    return this.answers.median();
  }

  counts(): Record<'closed' | 'open' | 'half_open', number> {
    const counts = { closed: 0, open: 0, half_open: 0 };
    for (const { breaker } of this.breakers.values()) {
      if (breaker.halfOpen) counts.half_open++;
      else if (breaker.opened) counts.open++;
      else counts.closed++;
    }
    return counts;
  }

  close(): void {
    reported = undefined;
    this.timers.forEach((timer) => clearInterval(timer));
    for (const { breaker } of this.breakers.values()) breaker.shutdown();
    this.breakers.clear();
  }

  private entry(endpoint: string) {
    let entry = this.breakers.get(endpoint);
    if (!entry) {
      const s = this.settings;
      const breaker = new CircuitBreaker<[Run], unknown>((run) => run(), {
        name: endpoint,
        timeout: false,
        errorThresholdPercentage: s.errorThresholdPercentage,
        volumeThreshold: s.volumeThreshold,
        rollingCountTimeout: s.windowMs,
        rollingCountBuckets: s.buckets,
        resetTimeout: s.resetTimeoutMs,
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
        rotateBucketController: this.rotation,
      });
      entry = { breaker, lastUsed: Date.now(), pending: [], recent: [], recentMs: 0 };
      this.breakers.set(endpoint, entry);
    }
    return entry;
  }

  private evictIdle(): void {
    const cutoff = Date.now() - this.settings.idleMs;
    for (const [endpoint, { breaker, lastUsed, pending }] of this.breakers) {
      if (lastUsed < cutoff && pending.length === 0) {
        breaker.shutdown();
        this.breakers.delete(endpoint);
      }
    }
  }
}

/** Answers kept for the typical answer time. */
const RECENT_ANSWERS = 512;
/** How long a computed median serves: sorting on every job would cost more than it tells. */
const MEDIAN_TTL_MS = 250;

/** The last RECENT_ANSWERS answer times, in a ring, and their median, computed on demand. */
class RecentAnswers {
  private readonly times = new Float64Array(RECENT_ANSWERS);
  private count = 0;
  private next = 0;
  private cached = 0;
  private cachedAt = -Infinity;

  add(ms: number): void {
    this.times[this.next] = ms;
    this.next = (this.next + 1) % RECENT_ANSWERS;
    this.count = Math.min(this.count + 1, RECENT_ANSWERS);
  }

  median(): number {
    const now = performance.now();
    if (now - this.cachedAt < MEDIAN_TTL_MS) return this.cached;
    this.cachedAt = now;
    if (this.count === 0) return (this.cached = 0);
    const sorted = this.times.slice(0, this.count).sort();
    this.cached = sorted[Math.floor(this.count / 2)]!;
    return this.cached;
  }
}

/** The middle of a few values, the lower of the two middle ones for an even count. */
function lowerMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1]!;
}
