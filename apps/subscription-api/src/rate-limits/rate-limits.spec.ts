import { describe, expect, it } from 'vitest';
import { ApiError } from '../http/api-error.js';
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

  it('runs one replay of a webhook at a time; a refused one costs no send', async () => {
    const limits = new RateLimits({ API_RATE_LIMIT: 100, API_SEND_RATE_LIMIT: 3 });
    let finish!: (queued: number) => void;
    const first = limits.replay('org_a', 'wh_1', () => new Promise<number>((r) => (finish = r)));
    const second = limits.replay('org_a', 'wh_1', () => Promise.resolve(0));
    await expect(second).rejects.toMatchObject({ status: 409, code: 'replay_in_progress' });
    await expect(second).rejects.toBeInstanceOf(ApiError);
    await expect(limits.replay('org_a', 'wh_2', () => Promise.resolve(1))).resolves.toBe(1);
    finish(42);
    await expect(first).resolves.toBe(42);
    // Free again, and the refused call left the third send of the minute.
    await expect(limits.replay('org_a', 'wh_1', () => Promise.resolve(7))).resolves.toBe(7);
    await expect(limits.replay('org_a', 'wh_1', () => Promise.resolve(8))).rejects.toMatchObject({
      status: 429,
    });
  });

  it('frees the webhook when a replay fails', async () => {
    const limits = new RateLimits({ API_RATE_LIMIT: 100, API_SEND_RATE_LIMIT: 60 });
    await expect(
      limits.replay('org_a', 'wh_1', () => Promise.reject(new Error('Kafka away'))),
    ).rejects.toThrow('Kafka away');
    await expect(limits.replay('org_a', 'wh_1', () => Promise.resolve(1))).resolves.toBe(1);
  });
});
