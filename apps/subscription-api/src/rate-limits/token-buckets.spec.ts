import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-buckets.js';

/** Buckets of `perSecond` and `capacity` on a clock the test moves. */
function buckets(perSecond: number, capacity: number) {
  let now = 1_000_000;
  const limiter = new TokenBuckets(perSecond, capacity, () => now);
  return {
    limiter,
    advance: (ms: number) => (now += ms),
    /** How many of `n` requests of `key` are taken now. */
    takeMany: (key: string, n: number) =>
      Array.from({ length: n }, () => limiter.take(key)).filter((d) => d.allowed).length,
  };
}

describe('TokenBuckets', () => {
  it('takes a full burst at once, then refuses', () => {
    const { limiter, takeMany } = buckets(10, 20);
    expect(takeMany('org_a', 20)).toBe(20);
    expect(limiter.take('org_a')).toMatchObject({ allowed: false, limit: 20, remaining: 0 });
  });

  it('counts remaining requests and the time to fill again, rounded up', () => {
    const { limiter } = buckets(10, 20);
    expect(limiter.take('org_a')).toEqual({
      allowed: true,
      limit: 20,
      remaining: 19,
      resetSeconds: 1,
      retryAfterSeconds: 0,
    });
  });

  it('refills at the rate, never past the capacity', () => {
    const { limiter, advance, takeMany } = buckets(10, 20);
    takeMany('org_a', 20);
    advance(500);
    expect(takeMany('org_a', 10)).toBe(5);
    advance(60_000);
    expect(takeMany('org_a', 30)).toBe(20);
    expect(limiter.take('org_a').allowed).toBe(false);
  });

  it('says when a refused request would be taken, in whole seconds rounded up', () => {
    // One a minute: an empty bucket has its next token in 60 s.
    const { limiter, advance, takeMany } = buckets(1 / 60, 3);
    takeMany('org_a', 3);
    expect(limiter.take('org_a')).toMatchObject({
      allowed: false,
      retryAfterSeconds: 60,
      resetSeconds: 180,
    });
    advance(59_001);
    expect(limiter.take('org_a')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    advance(999);
    expect(limiter.take('org_a').allowed).toBe(true);
  });

  it('never answers a fast limit with less than one second to wait', () => {
    const { limiter, takeMany } = buckets(1_000, 2);
    takeMany('org_a', 2);
    expect(limiter.take('org_a')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
  });

  it('keeps organisations apart', () => {
    const { limiter, takeMany } = buckets(1, 2);
    takeMany('org_a', 5);
    expect(limiter.take('org_a').allowed).toBe(false);
    expect(limiter.take('org_b')).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('drops buckets that have filled up again, and only those', () => {
    const { limiter, advance, takeMany } = buckets(10, 20);
    for (let i = 0; i < 1_000; i++) limiter.take(`org_${i}`);
    takeMany('busy', 20);
    expect(limiter.size).toBe(1_001);
    // 2 s is the fill time of an empty bucket; the ones short by a token are full by then.
    advance(1_000);
    takeMany('busy', 10);
    advance(1_000);
    limiter.take('new');
    expect(limiter.size).toBe(2);
    // A dropped bucket comes back full, as it was.
    expect(limiter.take('org_7')).toMatchObject({ allowed: true, remaining: 19 });
  });

  it('refuses a rate or capacity it cannot work with', () => {
    expect(() => new TokenBuckets(0, 10)).toThrow(RangeError);
    expect(() => new TokenBuckets(10, 0.5)).toThrow(RangeError);
  });
});
