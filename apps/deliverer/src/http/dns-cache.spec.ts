import { describe, expect, it } from 'vitest';
import { DnsCache } from './dns-cache.js';

const answer = [{ address: '93.184.215.14', family: 4 as const }];

/** A resolver whose lookups the test settles by hand, counting them. */
function manualResolver() {
  const pending: Array<{ host: string; settle: (ok: boolean) => void }> = [];
  const resolve = (host: string) =>
    new Promise<typeof answer>((resolve, reject) =>
      pending.push({
        host,
        settle: (ok) => (ok ? resolve(answer) : reject(new Error('ENOTFOUND'))),
      }),
    );
  return { resolve, pending };
}

describe('DnsCache', () => {
  it('asks once for a host looked up by many connections at once, and keeps the answer a while', async () => {
    let now = 0;
    const { resolve, pending } = manualResolver();
    const cache = new DnsCache(resolve, { ttlMs: 30_000 }, () => now);
    const lookups = [cache.resolver('a.example'), cache.resolver('a.example')];
    expect(pending).toHaveLength(1);
    pending[0]!.settle(true);
    expect(await Promise.all(lookups)).toEqual([answer, answer]);
    now = 29_000;
    expect(await cache.resolver('a.example')).toEqual(answer);
    expect(pending).toHaveLength(1);
    now = 31_000;
    void cache.resolver('a.example');
    expect(pending).toHaveLength(2);
  });

  it('remembers a failure for its own while, then asks again', async () => {
    let now = 0;
    const { resolve, pending } = manualResolver();
    const cache = new DnsCache(resolve, { failureTtlMs: 10_000 }, () => now);
    const first = cache.resolver('dead.example');
    pending[0]!.settle(false);
    await expect(first).rejects.toThrow('ENOTFOUND');
    await expect(cache.resolver('dead.example')).rejects.toThrow('ENOTFOUND');
    expect(pending).toHaveLength(1);
    now = 10_001;
    void cache.resolver('dead.example').catch(() => undefined);
    expect(pending).toHaveLength(2);
  });

  it('gives up waiting on a lookup that hangs, without starting another for the host', async () => {
    const { resolve, pending } = manualResolver();
    const cache = new DnsCache(resolve, { timeoutMs: 50 });
    await expect(cache.resolver('slow.example')).rejects.toThrow('took over 50 ms');
    await expect(cache.resolver('slow.example')).rejects.toThrow('took over 50 ms');
    expect(pending).toHaveLength(1);
    // Other hosts are not held up by it.
    const other = cache.resolver('b.example');
    pending[1]!.settle(true);
    expect(await other).toEqual(answer);
  });
});
