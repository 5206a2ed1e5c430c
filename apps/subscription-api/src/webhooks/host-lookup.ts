import { Limiter, withTimeout } from '@hookpost/platform';

export interface HostAnswer {
  address: string;
  family: 4 | 6;
}

export type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

/**
 * The addresses of a webhook URL's host, for the check made when a subscription is saved.
 *
 * The system resolver (getaddrinfo) runs on libuv's threads, four by default, and the
 * service's own Kafka and Postgres connections resolve their hosts on the same threads.
 * A host behind a dead name server holds a thread for the resolver's own timeouts, so saves
 * take at most `concurrency` of them, and wait their turn. Each waits `timeoutMs` in all,
 * queue included, and is refused as not resolving then; a lookup whose save has given up
 * by its turn is not started.
 */
export function hostLookup(
  lookup: Lookup,
  { concurrency, timeoutMs }: { concurrency: number; timeoutMs: number },
): (host: string) => Promise<HostAnswer[]> {
  const threads = new Limiter(concurrency);
  return async (host) => {
    const deadline = Date.now() + timeoutMs;
    const answers = await withTimeout(
      threads.run(() =>
        Date.now() < deadline ? lookup(host) : Promise.reject(new Error('lookup timed out')),
      ),
      timeoutMs,
      'lookup timed out',
    );
    return answers.map((answer) => ({ address: answer.address, family: answer.family as 4 | 6 }));
  };
}
