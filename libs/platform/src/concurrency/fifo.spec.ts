import { describe, expect, it } from 'vitest';
import { Fifo } from './fifo.js';

describe('Fifo', () => {
  it('gives items back in the order they came, across its compactions', () => {
    const fifo = new Fifo<number>();
    const out: number[] = [];
    // Thousands in, most of them out, more in: the taken prefix is dropped along the way.
    for (let i = 0; i < 5_000; i++) fifo.push(i);
    for (let i = 0; i < 4_000; i++) out.push(fifo.shift()!);
    for (let i = 5_000; i < 9_000; i++) fifo.push(i);
    expect(fifo.length).toBe(5_000);
    expect(fifo.peek()).toBe(4_000);
    while (fifo.length > 0) out.push(fifo.shift()!);
    expect(out).toEqual([...Array(9_000).keys()]);
  });

  it('is empty when everything was taken, and then takes new items', () => {
    const fifo = new Fifo<string>();
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.peek()).toBeUndefined();
    fifo.push('a');
    expect(fifo.shift()).toBe('a');
    expect(fifo.length).toBe(0);
    fifo.push('b');
    expect(fifo.peek()).toBe('b');
    expect(fifo.length).toBe(1);
  });
});
