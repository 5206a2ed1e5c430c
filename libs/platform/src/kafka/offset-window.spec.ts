import { describe, expect, it } from 'vitest';
import { OffsetWindow } from './offset-window.js';

describe('OffsetWindow', () => {
  it('has nothing to commit before anything was handed out', () => {
    expect(new OffsetWindow().commitPoint()).toBeUndefined();
  });

  it('commits only below the lowest unfinished offset, whatever order work finishes in', () => {
    const window = new OffsetWindow();
    for (const offset of [10n, 11n, 12n, 13n]) window.add(offset);
    expect(window.commitPoint()).toBe(10n);
    window.finish(12n);
    window.finish(11n);
    expect(window.commitPoint()).toBe(10n);
    expect(window.inFlight).toBe(2);
    window.finish(10n);
    expect(window.commitPoint()).toBe(13n);
    window.finish(13n);
    expect(window.commitPoint()).toBe(14n);
    expect(window.inFlight).toBe(0);
  });

  it('handles offset gaps (compaction, transactions) and long runs', () => {
    const window = new OffsetWindow();
    for (let offset = 0n; offset < 5000n; offset += 3n) window.add(offset);
    for (let offset = 4998n; offset >= 3n; offset -= 3n) window.finish(offset);
    expect(window.commitPoint()).toBe(0n);
    window.finish(0n);
    expect(window.commitPoint()).toBe(4999n);
    window.add(5007n);
    expect(window.commitPoint()).toBe(5007n);
  });

  it('wakes a waiter when work finishes, or after its timeout', async () => {
    const window = new OffsetWindow();
    window.add(1n);
    const woken = window.changed(10_000);
    window.finish(1n);
    await woken;
    const started = Date.now();
    await window.changed(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });
});
