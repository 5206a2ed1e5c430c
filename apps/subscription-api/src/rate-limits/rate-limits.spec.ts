import { describe, expect, it } from 'vitest';
import { RateLimitedError, RateLimits } from './rate-limits.js';

describe('RateLimits', () => {
  it('refuses past API_RATE_LIMIT with 429 rate_limited, naming the limit and the wait', () => {
    const limits = new RateLimits({ API_RATE_LIMIT: 2, API_SEND_RATE_LIMIT: 60 });
    for (let i = 0; i < 4; i++) limits.request('org_a');
    let error: unknown;
    try {
      limits.request('org_a');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({
      status: 429,
      code: 'rate_limited',
      message:
        'too many requests: the limit is 2 a second per organisation, in bursts of up to 4; retry in 1 s',
      decision: { allowed: false, limit: 4, remaining: 0, retryAfterSeconds: 1 },
    });
    expect(limits.request('org_b')).toMatchObject({ allowed: true, remaining: 3 });
  });

  it('counts test events and replays together, per minute', () => {
    const limits = new RateLimits({ API_RATE_LIMIT: 100, API_SEND_RATE_LIMIT: 2 });
    limits.send('org_a');
    limits.send('org_a');
    expect(() => limits.send('org_a')).toThrow(
      'too many test events and replays: the limit is 2 a minute per organisation; retry in 30 s',
    );
  });

  it('limits nothing when both are 0', () => {
    const limits = new RateLimits({ API_RATE_LIMIT: 0, API_SEND_RATE_LIMIT: 0 });
    for (let i = 0; i < 1_000; i++) {
      expect(limits.request('org_a')).toBeUndefined();
      limits.send('org_a');
    }
  });
});
