import { describe, expect, it } from 'vitest';
import { Pacer } from './pacing.js';

describe('Pacer', () => {
  it('spaces the turns of one endpoint evenly at its rate, however many arrive at once', () => {
    const pacer = new Pacer();
    const waits = Array.from({ length: 5 }, () => pacer.reserve('wh_a', 4, 10_000));
    expect(waits).toEqual([0, 250, 500, 750, 1_000]);
    expect(pacer.reservedMs('wh_a', 10_000)).toBe(1_250);
    // Time passing uses up the reserved turns; a turn is never given back early.
    expect(pacer.reservedMs('wh_a', 10_600)).toBe(650);
    expect(pacer.reserve('wh_a', 4, 10_600)).toBe(650);
  });

  it('keeps endpoints apart, and lets a quiet endpoint start at once', () => {
    const pacer = new Pacer();
    expect(pacer.reserve('wh_a', 1, 0)).toBe(0);
    expect(pacer.reserve('wh_a', 1, 0)).toBe(1_000);
    expect(pacer.reserve('wh_b', 1, 0)).toBe(0);
    // Past its reserved turns, an endpoint does not get a burst for the time it was quiet.
    expect(pacer.reserve('wh_a', 1, 60_000)).toBe(0);
    expect(pacer.reserve('wh_a', 1, 60_000)).toBe(1_000);
    expect(pacer.reservedMs('wh_c', 60_000)).toBe(0);
  });

  it('follows a changed rate from the next turn on', () => {
    const pacer = new Pacer();
    pacer.reserve('wh_a', 1, 0);
    expect(pacer.reserve('wh_a', 10, 0)).toBe(1_000);
    expect(pacer.reserve('wh_a', 10, 0)).toBe(1_100);
  });
});
