import { register } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BREAKER_SETTINGS, EndpointBreakers } from './breakers.js';

const failing = () => Promise.resolve({ status: 503 });
const healthy = () => Promise.resolve({ status: 200 });
const unhealthy = (r: { status: number }) => r.status >= 500;

describe('EndpointBreakers', () => {
  let breakers: EndpointBreakers;
  afterEach(() => breakers.close());

  it('opens for a failing endpoint only, and then sends nothing to it', async () => {
    breakers = new EndpointBreakers({ ...DEFAULT_BREAKER_SETTINGS, volumeThreshold: 3 });
    for (let i = 0; i < 3; i++) {
      expect(await breakers.run('sick', failing, unhealthy)).toEqual({
        kind: 'sent',
        value: { status: 503 },
      });
    }
    let sent = 0;
    const result = await breakers.run('sick', () => (sent++, healthy()), unhealthy);
    expect(result).toEqual({ kind: 'open' });
    expect(sent).toBe(0);
    expect(await breakers.run('well', healthy, unhealthy)).toEqual({
      kind: 'sent',
      value: { status: 200 },
    });
    expect(breakers.counts()).toEqual({ closed: 1, open: 1, half_open: 0 });
  });

  it('lets one trial through after the reset timeout and closes on success', async () => {
    breakers = new EndpointBreakers({
      ...DEFAULT_BREAKER_SETTINGS,
      volumeThreshold: 1,
      resetTimeoutMs: 50,
    });
    await breakers.run('flaky', failing, unhealthy);
    expect((await breakers.run('flaky', healthy, unhealthy)).kind).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(breakers.counts().half_open).toBe(1);
    expect((await breakers.run('flaky', healthy, unhealthy)).kind).toBe('sent');
    expect(breakers.counts()).toEqual({ closed: 1, open: 0, half_open: 0 });
  });

  it('says whether it would refuse: while open, and half-open once its trial is under way', async () => {
    breakers = new EndpointBreakers({
      ...DEFAULT_BREAKER_SETTINGS,
      volumeThreshold: 1,
      resetTimeoutMs: 50,
    });
    expect(breakers.refuses('flaky')).toBe(false);
    await breakers.run('flaky', failing, unhealthy);
    expect(breakers.refuses('flaky')).toBe(true);
    expect(breakers.refuses('other')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(breakers.refuses('flaky')).toBe(false);
    let answer!: (value: { status: number }) => void;
    const trial = breakers.run(
      'flaky',
      () => new Promise<{ status: number }>((resolve) => (answer = resolve)),
      unhealthy,
    );
    expect(breakers.refuses('flaky')).toBe(true);
    expect((await breakers.run('flaky', healthy, unhealthy)).kind).toBe('open');
    answer({ status: 200 });
    expect((await trial).kind).toBe('sent');
    expect(breakers.refuses('flaky')).toBe(false);
  });

  describe('answer times, on a faked clock', () => {
    beforeEach(() => vi.useFakeTimers({ toFake: ['performance'] }));
    afterEach(() => vi.useRealTimers());
    /** A request that the faked clock says took `ms` to answer. */
    const answerAfter = (ms: number) => async () => {
      vi.advanceTimersByTime(ms);
      return { status: 200 };
    };

    it('tells how long an endpoint takes to answer: its recent answers, or a request still waiting', async () => {
      breakers = new EndpointBreakers();
      expect(breakers.answerMs('slow')).toBe(0);
      await breakers.run('slow', answerAfter(60), unhealthy);
      expect(breakers.answerMs('slow')).toBe(60);
      // A request without an answer yet counts once it has waited longer than they took.
      let answer!: (value: { status: number }) => void;
      const hanging = breakers.run(
        'slow',
        () => new Promise<{ status: number }>((resolve) => (answer = resolve)),
        unhealthy,
      );
      vi.advanceTimersByTime(120);
      expect(breakers.answerMs('slow')).toBe(120);
      answer({ status: 200 });
      await hanging;
      // Then the median of the answers so far (60, 120, 5: the lower middle of two).
      await breakers.run('slow', answerAfter(5), unhealthy);
      expect(breakers.answerMs('slow')).toBe(60);
      // Once most recent answers are quick, the endpoint is; another endpoint is apart.
      for (let i = 0; i < 3; i++) await breakers.run('slow', answerAfter(5), unhealthy);
      expect(breakers.answerMs('slow')).toBe(5);
      expect(breakers.answerMs('other')).toBe(0);
    });

    it('does not take one slow answer among quick ones for a slow endpoint', async () => {
      breakers = new EndpointBreakers();
      // As when one connection attempt of several was dropped and sent again after 1 s.
      for (const ms of [200, 210, 190, 1_370]) {
        await breakers.run('healthy', answerAfter(ms), unhealthy);
      }
      expect(breakers.answerMs('healthy')).toBe(200);
      // An endpoint whose answers all take long is slow.
      for (let i = 0; i < 5; i++) await breakers.run('slow', answerAfter(1_500), unhealthy);
      expect(breakers.answerMs('slow')).toBe(1_500);
    });

    it('tells how long answers typically take across endpoints: the median of the recent ones', async () => {
      breakers = new EndpointBreakers();
      expect(breakers.typicalAnswerMs()).toBe(0);
      // Nine endpoints answer in 5 ms, one in 5 s: the slow one does not move the median.
      for (let i = 0; i < 9; i++) await breakers.run(`fast-${i}`, answerAfter(5), unhealthy);
      await breakers.run('slow', answerAfter(5_000), unhealthy);
      vi.advanceTimersByTime(300);
      expect(breakers.typicalAnswerMs()).toBe(5);
      // Then every answer takes 2 s (the deliverer itself behind): the median follows,
      // once the last one computed has served its 250 ms.
      for (let i = 0; i < 20; i++)
        await breakers.run(`fast-${i % 9}`, answerAfter(2_000), unhealthy);
      expect(breakers.typicalAnswerMs()).toBe(2_000);
    });
  });

  it('counts a thrown error as a failure and passes it on', async () => {
    breakers = new EndpointBreakers({ ...DEFAULT_BREAKER_SETTINGS, volumeThreshold: 1 });
    await expect(
      breakers.run('broken', () => Promise.reject(new Error('bug')), unhealthy),
    ).rejects.toThrow('bug');
    expect((await breakers.run('broken', healthy, unhealthy)).kind).toBe('open');
  });

  it('drops idle breakers, open ones too, and reports counts by state, not per endpoint', async () => {
    breakers = new EndpointBreakers({
      ...DEFAULT_BREAKER_SETTINGS,
      idleMs: 30,
      volumeThreshold: 1,
    });
    for (let i = 0; i < 50; i++) await breakers.run(`endpoint-${i}`, healthy, unhealthy);
    await breakers.run('deleted-endpoint', failing, unhealthy);
    const metrics = await register.getSingleMetricAsString('hookpost_circuit_breakers');
    expect(metrics).toContain('hookpost_circuit_breakers{state="closed"} 50');
    expect(metrics).toContain('hookpost_circuit_breakers{state="open"} 1');
    expect(metrics.match(/^hookpost_circuit_breakers\{/gm)).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(breakers.counts()).toEqual({ closed: 0, open: 0, half_open: 0 });
  });

  it('forgets what an endpoint did at its old URL once it sends to another', async () => {
    breakers = new EndpointBreakers({ ...DEFAULT_BREAKER_SETTINGS, volumeThreshold: 1 });
    breakers.follow('moved', 'https://old.example/hook');
    await breakers.run('moved', failing, unhealthy);
    breakers.follow('moved', 'https://old.example/hook');
    expect(breakers.refuses('moved')).toBe(true);
    expect(breakers.counts()).toEqual({ closed: 0, open: 1, half_open: 0 });
    breakers.follow('moved', 'https://new.example/hook');
    expect(breakers.refuses('moved')).toBe(false);
    expect((await breakers.run('moved', healthy, unhealthy)).kind).toBe('sent');
  });
});
