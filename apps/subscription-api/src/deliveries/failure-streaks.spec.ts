import type { AttemptEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { failureStreaks } from './failure-streaks.js';

const attempt = (
  subscriptionId: string,
  outcome: AttemptEvent['outcome'],
  gone = false,
  attemptedAt = '2026-03-01T12:00:00.000Z',
) => ({ subscriptionId, outcome, gone, attemptedAt }) as AttemptEvent;

describe('failure streaks', () => {
  it('counts failures after the last success, per subscription', () => {
    const streaks = failureStreaks([
      attempt('a', 'failed'),
      attempt('a', 'succeeded'),
      attempt('a', 'failed'),
      attempt('b', 'failed'),
      attempt('b', 'failed'),
      attempt('b', 'skipped'),
      attempt('b', 'short_circuited'),
    ]);
    expect(streaks.get('a')).toEqual({ reset: true, failures: 1, gone: false });
    expect(streaks.get('b')).toEqual({ reset: false, failures: 2, gone: false });
  });

  it('notes a 410, and when the last one was answered', () => {
    expect(failureStreaks([attempt('a', 'failed', true)]).get('a')).toMatchObject({
      gone: true,
      goneAt: '2026-03-01T12:00:00.000Z',
      failures: 1,
    });
    const twice = failureStreaks([
      attempt('a', 'failed', true, '2026-03-01T12:00:05.000Z'),
      attempt('a', 'failed', true, '2026-03-01T12:00:01.000Z'),
    ]);
    expect(twice.get('a')?.goneAt).toBe('2026-03-01T12:00:05.000Z');
  });
});
