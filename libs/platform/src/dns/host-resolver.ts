import { promises as dns } from 'node:dns';
import { Limiter } from '../concurrency/limiter.js';
import { withTimeout } from '../concurrency/timeout.js';

export interface HostAddress {
  address: string;
  family: 4 | 6;
}

/** The queries this needs of a DNS client; `dns.promises.Resolver` by default. */
export type DnsClient = Pick<dns.Resolver, 'resolve4' | 'resolve6'>;

/** The system resolver's answer (getaddrinfo: /etc/hosts, search domains). */
export type SystemLookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

export interface HostResolverOptions {
  /** How long an answer may take in all, a turn at the system resolver included. */
  timeoutMs: number;
  /** System lookups at once: each holds one of libuv's threads while it runs. */
  systemConcurrency: number;
  dnsClient?: DnsClient;
  systemLookup?: SystemLookup;
}

/**
 * The name servers answered that the name has no address they know of, or would not be
 * asked: the system resolver may still know it (/etc/hosts, `localhost`, a search domain).
 * A time-out or a server failure is not among them: asked again the same way, the system
 * resolver would wait as long, on a thread.
 */
const ASK_THE_SYSTEM = new Set(['ENOTFOUND', 'ENODATA', 'ECONNREFUSED', 'EREFUSED']);

/**
 * Resolves the hosts of webhook URLs, which customers choose, so some sit behind name
 * servers that never answer.
 *
 * Node's `dns.lookup` (getaddrinfo) runs on libuv's threads, four by default, which the
 * process's own Kafka and Postgres connections, file reads and crypto share; a lookup holds
 * one for the resolver's whole time-out, however soon its caller gives up. A customer with
 * a few such hosts could take them all, for every other customer too. So the name servers
 * are asked first over the network, from the event loop (c-ares), where an unanswered
 * query costs a socket and a timer; only a name they do not know goes to the system
 * resolver, at most `systemConcurrency` at once, and not at all once the caller has given
 * up waiting. IPv4 answers come first, as most receivers are reached on them.
 */
export function hostResolver(
  options: HostResolverOptions,
): (host: string) => Promise<HostAddress[]> {
  const { timeoutMs } = options;
  const client =
    options.dnsClient ?? new dns.Resolver({ timeout: Math.ceil(timeoutMs / 4), tries: 2 });
  const system =
    options.systemLookup ?? ((host: string) => dns.lookup(host, { all: true, verbatim: true }));
  const threads = new Limiter(options.systemConcurrency);

  const resolve = async (host: string, deadline: number): Promise<HostAddress[]> => {
    const [v4, v6] = await Promise.allSettled([client.resolve4(host), client.resolve6(host)]);
    const answers: HostAddress[] = [
      ...(v4.status === 'fulfilled'
        ? v4.value.map((address) => ({ address, family: 4 as const }))
        : []),
      ...(v6.status === 'fulfilled'
        ? v6.value.map((address) => ({ address, family: 6 as const }))
        : []),
    ];
    if (answers.length > 0) return answers;
    const codes = [v4, v6].map((r) => (r.status === 'rejected' ? errorCode(r.reason) : 'ENODATA'));
    if (!codes.every((code) => ASK_THE_SYSTEM.has(code)))
      throw new Error(`resolving ${host} failed (${codes.join(', ')})`);
    const found = await threads.run(() =>
      Date.now() < deadline ? system(host) : Promise.reject(new Error(`resolving ${host} gave up`)),
    );
    return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  };

  return (host) =>
    withTimeout(
      resolve(host, Date.now() + timeoutMs),
      timeoutMs,
      `resolving ${host} took over ${timeoutMs} ms`,
    );
}

function errorCode(error: unknown): string {
  return String((error as { code?: unknown } | undefined)?.code ?? 'unknown');
}
