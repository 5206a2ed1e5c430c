import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { hostLookup } from './host-lookup.js';

describe('hostLookup', () => {
  it('runs at most `concurrency` lookups at once, the rest in turn', async () => {
    let running = 0;
    let most = 0;
    const resolve = hostLookup(
      async (host) => {
        most = Math.max(most, ++running);
        await sleep(20);
        running--;
        return [{ address: `192.0.2.${host.length}`, family: 4 }];
      },
      { concurrency: 2, timeoutMs: 5_000 },
    );
    const hosts = ['a.example', 'bb.example', 'ccc.example', 'dddd.example', 'eeeee.example'];
    const answers = await Promise.all(hosts.map((host) => resolve(host)));
    expect(most).toBe(2);
    expect(answers.map(([answer]) => answer)).toEqual(
      hosts.map((host) => ({ address: `192.0.2.${host.length}`, family: 4 })),
    );
  });

  it('refuses a lookup still waiting for its turn at the timeout, and never starts it', async () => {
    const started: string[] = [];
    const resolve = hostLookup(
      async (host) => {
        started.push(host);
        await sleep(host === 'slow.example' ? 300 : 0);
        return [{ address: '2001:db8::1', family: 6 }];
      },
      { concurrency: 1, timeoutMs: 100 },
    );
    const slow = resolve('slow.example');
    const queued = resolve('queued.example');
    await expect(slow).rejects.toThrow('lookup timed out');
    await expect(queued).rejects.toThrow('lookup timed out');
    await sleep(300);
    expect(started).toEqual(['slow.example']);
    // The turn is free again for the next save.
    await expect(resolve('next.example')).resolves.toEqual([{ address: '2001:db8::1', family: 6 }]);
  });
});
