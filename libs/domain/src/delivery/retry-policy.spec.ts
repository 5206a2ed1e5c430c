import { describe, expect, it } from 'vitest';
import {
  deferralDelay,
  nextStep,
  parseRetryAfter,
  waitFor,
  putOffForSaturation,
  retryDelays,
  SLOW_ANSWER_MS,
  SLOWER_THAN_TYPICAL,
} from './retry-policy.js';

const now = new Date('2026-01-01T00:00:00.000Z');
const schedule = [60, 300, 1800, 7200, 43200];
const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);

describe('retry policy', () => {
  it('is done after a success, a 410 or a skip', () => {
    for (const kind of ['succeeded', 'gone', 'skipped'] as const) {
      expect(nextStep(1, { kind }, schedule, now)).toEqual({ kind: 'done' });
    }
  });

  it('follows the schedule, then gives up', () => {
    expect(nextStep(1, { kind: 'failed', status: 500 }, schedule, now)).toEqual({
      kind: 'retry',
      attempt: 2,
      delaySeconds: 60,
      notBefore: at(60),
    });
    expect(nextStep(5, { kind: 'failed' }, schedule, now)).toMatchObject({
      attempt: 6,
      delaySeconds: 43200,
    });
    expect(nextStep(6, { kind: 'failed' }, schedule, now)).toEqual({ kind: 'dead' });
  });

  it('honours Retry-After on 429 and 503, never sooner than the schedule', () => {
    expect(
      nextStep(1, { kind: 'failed', status: 503, retryAfter: '5' }, schedule, now),
    ).toMatchObject({
      delaySeconds: 60,
      notBefore: at(60),
    });
    expect(
      nextStep(1, { kind: 'failed', status: 500, retryAfter: '600' }, schedule, now),
    ).toMatchObject({
      delaySeconds: 60,
      notBefore: at(60),
    });
  });

  it('waits on, a delay at a time, until the time asked for past the longest delay', () => {
    const asked = at(100000);
    // Back from the 12 h topic: 56,800 s to go, on the 12 h topic again.
    expect(waitFor(asked, schedule, at(43200))).toEqual({
      delaySeconds: 43200,
      notBefore: at(86400),
    });
    // Back again: 13,600 s to go, which the 12 h topic covers, due at the time asked.
    expect(waitFor(asked, schedule, at(86400))).toEqual({
      delaySeconds: 43200,
      notBefore: asked,
    });
    expect(waitFor(asked, schedule, at(99000))).toEqual({ delaySeconds: 1800, notBefore: asked });
    expect(waitFor(asked, schedule, asked)).toBeUndefined();
  });

  it('sends a longer Retry-After to the delay topic that covers it, so it holds up no one', () => {
    // On the 60 s topic a job due in 600 s would hold its partition for nine minutes.
    expect(nextStep(1, { kind: 'failed', status: 429, retryAfter: '600' }, schedule, now)).toEqual({
      kind: 'retry',
      attempt: 2,
      delaySeconds: 1800,
      notBefore: at(600),
    });
    expect(
      nextStep(2, { kind: 'failed', status: 503, retryAfter: '300' }, schedule, now),
    ).toMatchObject({ delaySeconds: 300, notBefore: at(300) });
    // Past the longest delay: due on its topic after that delay, with the time asked for.
    expect(
      nextStep(1, { kind: 'failed', status: 429, retryAfter: '100000' }, schedule, now),
    ).toEqual({
      kind: 'retry',
      attempt: 2,
      delaySeconds: 43200,
      notBefore: at(43200),
      retryAfter: at(100000),
    });
    // Every job on a delay topic falls due within that delay.
    for (const retryAfter of ['1', '61', '299', '301', '7201', '50000']) {
      for (let attempt = 1; attempt <= schedule.length; attempt++) {
        const step = nextStep(attempt, { kind: 'failed', status: 429, retryAfter }, schedule, now);
        if (step.kind !== 'retry') throw new Error('expected a retry');
        expect(schedule).toContain(step.delaySeconds);
        expect(step.notBefore.getTime()).toBeLessThanOrEqual(at(step.delaySeconds).getTime());
        expect(step.notBefore.getTime()).toBeGreaterThanOrEqual(
          at(schedule[attempt - 1]!).getTime(),
        );
      }
    }
  });

  it('reads both forms of Retry-After', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:02:00 GMT', now)).toBe(120);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('puts a job off for longer each time, up to the last delay', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => deferralDelay(schedule, n))).toEqual([
      60, 300, 1800, 7200, 43200, 43200, 43200,
    ]);
    expect(deferralDelay([2], 5)).toBe(2);
  });

  it('puts a job off when its endpoint has a full queue, or is slow to answer while the window is crowded', () => {
    const queueLimit = 250;
    const typicalAnswerMs = 5;
    const behind = { waiting: 1, answerMs: SLOW_ANSWER_MS, typicalAnswerMs, pacedMs: 0 };
    // An endpoint that keeps up (nothing waiting) is never put off, however full the window.
    expect(
      putOffForSaturation({
        waiting: 0,
        answerMs: 0,
        typicalAnswerMs,
        pacedMs: 0,
        windowShare: 0.99,
        queueLimit,
      }),
    ).toBe(false);
    // One that is behind is put off at its queue limit, or earlier once half the window is
    // in flight: several such endpoints on a partition cannot fill its window together.
    expect(putOffForSaturation({ ...behind, waiting: 249, windowShare: 0.49, queueLimit })).toBe(
      false,
    );
    expect(
      putOffForSaturation({
        waiting: 250,
        answerMs: 0,
        typicalAnswerMs,
        pacedMs: 0,
        windowShare: 0,
        queueLimit,
      }),
    ).toBe(true);
    expect(putOffForSaturation({ ...behind, windowShare: 0.5, queueLimit })).toBe(true);
    // A queue behind an endpoint that answers is a burst, not an endpoint behind: it is
    // kept, however crowded the window, up to the queue limit.
    expect(
      putOffForSaturation({
        waiting: 200,
        answerMs: SLOW_ANSWER_MS - 1,
        typicalAnswerMs,
        pacedMs: SLOW_ANSWER_MS - 1,
        windowShare: 0.99,
        queueLimit,
      }),
    ).toBe(false);
  });

  it('counts an endpoint whose rate limit holds its jobs a second as behind, however fast it answers', () => {
    const load = { waiting: 3, answerMs: 2, typicalAnswerMs: 5, queueLimit: 250 };
    expect(putOffForSaturation({ ...load, pacedMs: SLOW_ANSWER_MS, windowShare: 0.5 })).toBe(true);
    // Only in a crowded window: otherwise its jobs wait their turns, up to the queue limit.
    expect(putOffForSaturation({ ...load, pacedMs: 60_000, windowShare: 0.49 })).toBe(false);
    expect(putOffForSaturation({ ...load, pacedMs: SLOW_ANSWER_MS - 1, windowShare: 0.99 })).toBe(
      false,
    );
  });

  it('does not take a deliverer that is behind for its endpoints being slow', () => {
    const queueLimit = 250;
    const crowded = { waiting: 40, windowShare: 0.9, queueLimit, pacedMs: 0 };
    // Every answer waits 1.5 s for a busy event loop: no endpoint stands out, none is put off.
    expect(putOffForSaturation({ ...crowded, answerMs: 1_600, typicalAnswerMs: 1_500 })).toBe(
      false,
    );
    // One endpoint SLOWER_THAN_TYPICAL times slower than the rest still is.
    expect(
      putOffForSaturation({
        ...crowded,
        answerMs: SLOWER_THAN_TYPICAL * 1_500,
        typicalAnswerMs: 1_500,
      }),
    ).toBe(true);
    // The full queue puts off either way.
    expect(
      putOffForSaturation({ ...crowded, waiting: 250, answerMs: 1_600, typicalAnswerMs: 1_500 }),
    ).toBe(true);
  });

  it('needs one topic per distinct delay', () => {
    expect(retryDelays([2, 4, 4, 60])).toEqual([2, 4, 60]);
  });
});
