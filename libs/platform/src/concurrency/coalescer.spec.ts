import { describe, expect, it } from 'vitest';
import { Coalescer } from './coalescer.js';

/** A flush that records its calls and finishes when told. */
function controlledFlush() {
  const calls: number[][] = [];
  const finishers: Array<(fail?: Error) => void> = [];
  const flush = (items: number[]) => {
    calls.push(items);
    return new Promise<number[]>((resolve, reject) => {
      finishers.push((fail) => (fail ? reject(fail) : resolve(items.map((n) => n * 10))));
    });
  };
  return { calls, finishers, flush };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('flushes a lone caller at the end of its turn, then merges callers that came while it ran', async () => {
    const { calls, finishers, flush } = controlledFlush();
    const coalescer = new Coalescer(flush);
    const first = coalescer.run([1, 2]);
    await tick();
    expect(calls).toEqual([[1, 2]]);
    const second = coalescer.run([3]);
    const third = coalescer.run([4, 5]);
    await tick();
    expect(calls).toHaveLength(1);
    finishers[0]!();
    expect(await first).toEqual([10, 20]);
    await tick();
    expect(calls[1]).toEqual([3, 4, 5]);
    finishers[1]!();
    expect(await second).toEqual([30]);
    expect(await third).toEqual([40, 50]);
  });

  it('sends what callers bring in one turn together, even with flushes to spare', async () => {
    const { calls, finishers, flush } = controlledFlush();
    const coalescer = new Coalescer(flush, 2);
    // As kafkajs starts the handlers of one fetch's partitions: one after another, each
    // reaching its round trip after some awaits of its own.
    const results = [1, 2, 3].map(async (n) => {
      for (let i = 0; i < n; i++) await Promise.resolve();
      return coalescer.run([n]);
    });
    await tick();
    await tick();
    expect(calls).toEqual([[1, 2, 3]]);
    finishers[0]!();
    expect(await Promise.all(results)).toEqual([[10], [20], [30]]);
  });

  it("rejects every caller of a failed flush, and later callers' flushes still run", async () => {
    const { calls, finishers, flush } = controlledFlush();
    const coalescer = new Coalescer(flush);
    const blocker = coalescer.run([0]);
    await tick();
    const a = coalescer.run([1]);
    const b = coalescer.run([2]);
    await tick();
    finishers[0]!();
    await blocker;
    await tick();
    finishers[1]!(new Error('database away'));
    await expect(a).rejects.toThrow('database away');
    await expect(b).rejects.toThrow('database away');
    const c = coalescer.run([3]);
    await tick();
    finishers[2]!();
    expect(await c).toEqual([30]);
    expect(calls).toEqual([[0], [1, 2], [3]]);
  });

  it('runs up to its limit of flushes at once', async () => {
    const { calls, finishers, flush } = controlledFlush();
    const coalescer = new Coalescer(flush, 2);
    for (const n of [1, 2, 3]) {
      void coalescer.run([n]);
      await tick();
    }
    expect(calls).toEqual([[1], [2]]);
    finishers[0]!();
    await tick();
    await tick();
    expect(calls).toEqual([[1], [2], [3]]);
    finishers[1]!();
    finishers[2]!();
  });

  it('with a linger, waits that long for company, also after a flush', async () => {
    const { calls, finishers, flush } = controlledFlush();
    const coalescer = new Coalescer(flush, 1, 40);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const first = coalescer.run([1]);
    await sleep(10);
    const second = coalescer.run([2]);
    await tick();
    expect(calls).toEqual([]);
    await sleep(40);
    expect(calls).toEqual([[1, 2]]);
    const third = coalescer.run([3]);
    finishers[0]!();
    expect(await first).toEqual([10]);
    expect(await second).toEqual([20]);
    await tick();
    // The flush ended before [3] had lingered its time: it does not go at once.
    expect(calls).toHaveLength(1);
    await sleep(50);
    expect(calls).toEqual([[1, 2], [3]]);
    finishers[1]!();
    expect(await third).toEqual([30]);
  });

  it('a flush that throws at once fails its callers like any other', async () => {
    const coalescer = new Coalescer<number>(() => {
      throw new Error('bad statement');
    });
    await expect(coalescer.run([1])).rejects.toThrow('bad statement');
  });
});
