import { describe, expect, it } from 'vitest';
import { KeyedLimiter, Limiter } from './limiter.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Limiter', () => {
  it('runs at most `limit` at once, the rest in arrival order', async () => {
    const limiter = new Limiter(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(limiter.queued).toBe(2);
    gates[1]!.resolve();
    await runs[1];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    gates.forEach((gate) => gate.resolve());
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(limiter.idle).toBe(true);
  });

  it('keeps arrival order for thousands waiting, while they come and go', async () => {
    const limiter = new Limiter(3);
    const started: number[] = [];
    const gates: Array<ReturnType<typeof deferred>> = [];
    const runs: Array<Promise<number>> = [];
    const enqueue = (i: number) => {
      const gate = deferred();
      gates.push(gate);
      runs.push(
        limiter.run(async () => {
          started.push(i);
          await gate.promise;
          return i;
        }),
      );
    };
    for (let i = 0; i < 5_000; i++) enqueue(i);
    expect(limiter.queued).toBe(4_997);
    // Let most of the queue through, then queue more behind what is left.
    for (let i = 0; i < 3_000; i++) {
      gates[i]!.resolve();
      await runs[i];
    }
    for (let i = 5_000; i < 7_000; i++) enqueue(i);
    gates.forEach((gate) => gate.resolve());
    expect(await Promise.all(runs)).toEqual([...Array(7_000).keys()]);
    expect(started).toEqual([...Array(7_000).keys()]);
    expect(limiter.idle).toBe(true);
  });

  it('frees the slot when the work throws', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(() => Promise.resolve('next'))).toBe('next');
  });
});

describe('KeyedLimiter', () => {
  it('caps each key on its own and forgets idle keys', async () => {
    const limiter = new KeyedLimiter(1);
    const slow = deferred();
    const blocked = limiter.run('slow', () => slow.promise);
    const queued = limiter.run('slow', () => Promise.resolve('second'));
    // Another key is not held up by the busy one.
    expect(await limiter.run('fast', () => Promise.resolve('fast'))).toBe('fast');
    expect(limiter.size).toBe(1);
    // One waits for the busy key's turn; none for the idle one.
    expect(limiter.queued('slow')).toBe(1);
    expect(limiter.queued('fast')).toBe(0);
    slow.resolve();
    await blocked;
    expect(await queued).toBe('second');
    expect(limiter.size).toBe(0);
  });
});
