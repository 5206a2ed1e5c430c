import { describe, expect, it } from 'vitest';
import { freePort } from './ports.js';

describe('freePort', () => {
  it('never gives one process the same port twice, though each is free until its taker binds it', async () => {
    // One after another, as a pipeline takes a port for each service: 600 draws from
    // 22,000 ports would repeat one about eight times by chance.
    const ports: number[] = [];
    for (let i = 0; i < 600; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(32_000);
    }
  });
});
