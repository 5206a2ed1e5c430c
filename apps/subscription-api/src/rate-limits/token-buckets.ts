/** What a bucket answered one request. */
export interface Decision {
  allowed: boolean;
  /** The burst: the most requests a full bucket takes at once. */
  limit: number;
  /** Whole requests the bucket takes now, after this one. */
  remaining: number;
  /** Seconds until the bucket is full again, rounded up. */
  resetSeconds: number;
  /** Seconds until a refused request would be taken, rounded up; 0 when allowed. */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  /** The clock's reading when `tokens` was counted. */
  at: number;
}

/**
 * A token bucket per key (an organisation): each holds up to `capacity` tokens, gains
 * `perSecond` a second, and a request takes one. A key never seen, or not seen for long
 * enough, has a full bucket: buckets are only kept while they are short of full, and
 * dropped in a sweep at most once a fill time, so memory follows the keys active in the
 * last few seconds (minutes, for a per-minute limit), never every key ever seen.
 *
 * `now` is a monotonic clock in milliseconds (a wall clock set back would hand out tokens
 * twice); tests pass a fake one.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  /** How long an empty bucket takes to fill: the sweep's period. */
  private readonly fillMs: number;
  private sweptAt: number;

  constructor(
    readonly perSecond: number,
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !(capacity >= 1))
      throw new RangeError('a token bucket needs a positive rate and a capacity of at least 1');
    this.perMs = perSecond / 1000;
    this.fillMs = capacity / this.perMs;
    this.sweptAt = now();
  }

  /** Takes a token from `key`'s bucket if it has one. */
  take(key: string): Decision {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key);
    let tokens = bucket ? this.level(bucket, now) : this.capacity;
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    this.buckets.set(key, { tokens, at: now });
    return {
      allowed,
      limit: this.capacity,
      remaining: Math.floor(tokens),
      resetSeconds: this.seconds(this.capacity - tokens),
      retryAfterSeconds: allowed ? 0 : this.seconds(1 - tokens),
    };
  }

  /** Buckets held: those short of full at the last sweep or touched since. */
  get size(): number {
    return this.buckets.size;
  }

  private level(bucket: Bucket, now: number): number {
    return Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.perMs);
  }

  /** Seconds to gain `tokens`, rounded up. */
  private seconds(tokens: number): number {
    return Math.ceil(tokens / this.perSecond);
  }

  /** Drops the buckets that have filled up again: a missing bucket is a full one. */
  private sweep(now: number): void {
    if (now - this.sweptAt < this.fillMs) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets)
      if (this.level(bucket, now) >= this.capacity) this.buckets.delete(key);
  }
}
