import type { AttemptEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { failureStreaks } from './failure-streaks.js';

const attempt = (subscriptionId: string, outcome: AttemptEvent['outcome'], gone = false) =>
  ({ subscriptionId, outcome, gone }) as AttemptEvent;

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

  it('notes a 410', () => {
    expect(failureStreaks([attempt('a', 'failed', true)]).get('a')).toMatchObject({
      gone: true,
      failures: 1,
    });
  });
});
