import { describe, expect, it } from 'vitest';
import { BoundedCache } from './bounded-cache.js';

describe('BoundedCache', () => {
  it('computes a value once and returns it after', () => {
    const cache = new BoundedCache<number>();
    let calls = 0;
    const compute = () => ++calls;
    expect(cache.get('a', compute)).toBe(1);
    expect(cache.get('a', compute)).toBe(1);
    expect(cache.get('b', compute)).toBe(2);
    expect(calls).toBe(2);
  });

  it('never holds more than its capacity, and recomputes what it dropped', () => {
    const cache = new BoundedCache<string>(3);
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.get(key, () => key.toUpperCase());
    expect(cache.size).toBeLessThanOrEqual(3);
    let recomputed = false;
    expect(
      cache.get('a', () => {
        recomputed = true;
        return 'A';
      }),
    ).toBe('A');
    expect(recomputed).toBe(true);
  });
});
