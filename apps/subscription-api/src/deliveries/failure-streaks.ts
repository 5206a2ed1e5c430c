import type { AttemptEvent } from '@hookpost/contracts';

/**
 * Consecutive failed attempts per subscription, from one batch of attempt events in
 * order: a success resets the streak; a failure extends it; skipped and short-circuited
 * attempts never reached the endpoint and change nothing.
 */
export interface StreakChange {
  /** A success in the batch: the streak restarts from `failures`. */
  reset: boolean;
  /** Failures after the last success in the batch (or all of them, without one). */
  failures: number;
  /** The endpoint answered 410 Gone. */
  gone: boolean;
  /** When it last did (the attempt's time), if it did. */
  goneAt?: string;
}

export function failureStreaks(attempts: readonly AttemptEvent[]): Map<string, StreakChange> {
  const out = new Map<string, StreakChange>();
  for (const attempt of attempts) {
    const change = out.get(attempt.subscriptionId) ?? { reset: false, failures: 0, gone: false };
    if (attempt.outcome === 'succeeded') {
      change.reset = true;
      change.failures = 0;
    } else if (attempt.outcome === 'failed') {
      change.failures += 1;
    }
    if (attempt.gone) {
      change.gone = true;
      if (!change.goneAt || Date.parse(attempt.attemptedAt) > Date.parse(change.goneAt))
        change.goneAt = attempt.attemptedAt;
    }
    out.set(attempt.subscriptionId, change);
  }
  return out;
}
