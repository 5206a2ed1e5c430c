/**
 * Preloaded into a service process (`--import`, see `dnsStubEnv`): names listed in
 * HOOKPOST_TEST_DNS (`{"name": ["address", ...]}`) resolve to those addresses (a name
 * listed with no address never answers, as behind a dead name server), every other name
 * as usual. Patches `dns.lookup` and `dns/promises` `lookup`, and the named
 * exports of both, so that code importing either sees the answers, and the queries of
 * `dns/promises` `Resolver` (`resolve4`, `resolve6`), which ask name servers directly.
 */
import dns, { type LookupAddress } from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';

const hosts = JSON.parse(process.env.HOOKPOST_TEST_DNS ?? '{}') as Record<string, string[]>;

function answers(host: string): LookupAddress[] | undefined {
  return hosts[host]?.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
}

const wantsAll = (options: unknown) =>
  typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;

const systemLookup = dns.lookup;
const systemLookupAsync = dns.promises.lookup;

dns.lookup = ((host: string, ...rest: unknown[]) => {
  const found = answers(host);
  if (!found) return (systemLookup as (...args: unknown[]) => void)(host, ...rest);
  const [options, callback] = rest.length === 1 ? [{}, rest[0]] : rest;
  const done = callback as (error: null, address: unknown, family?: number) => void;
  if (found.length === 0) return;
  process.nextTick(() =>
    wantsAll(options) ? done(null, found) : done(null, found[0]!.address, found[0]!.family),
  );
}) as typeof dns.lookup;

dns.promises.lookup = ((host: string, options?: unknown) => {
  const found = answers(host);
  if (!found) return (systemLookupAsync as (...args: unknown[]) => unknown)(host, options);
  if (found.length === 0) return new Promise(() => undefined);
  return Promise.resolve(wantsAll(options) ? found : found[0]);
}) as typeof dns.promises.lookup;

type Query = (this: dns.promises.Resolver, host: string) => Promise<string[]>;
const { Resolver } = dns.promises;
for (const [method, family] of [
  ['resolve4', 4],
  ['resolve6', 6],
] as const) {
  const ask = Resolver.prototype[method] as Query;
  (Resolver.prototype[method] as Query) = function (host) {
    const found = answers(host);
    if (!found) return ask.call(this, host);
    if (found.length === 0) return new Promise(() => undefined);
    const addresses = found.filter((a) => a.family === family).map((a) => a.address);
    if (addresses.length > 0) return Promise.resolve(addresses);
    return Promise.reject(
      Object.assign(new Error(`${method} ENODATA ${host}`), { code: 'ENODATA' }),
    );
  };
}

syncBuiltinESMExports();
