import { createRequire } from 'node:module';
import { Pool } from 'undici';

/**
 * undici's `Pool` (the connections to one origin), choosing a free connection in constant
 * time. The `Pool` looks through all its connections in turn for a free one, twice a
 * request. The deliverer keeps up to DELIVERY_CONCURRENCY requests in flight, and where
 * many subscriptions share one receiving host (a customer's gateway, or the benchmark's
 * one receiver), a thousand connections to it: those walks then had 5% of the
 * deliverer's profile samples while it worked off a backlog. This keeps a list of the
 * free connections instead, told by the hook the `Pool` itself calls whenever one becomes
 * free. When none is free the `Pool` decides as before: it opens a connection, or queues
 * the request (at its connection limit, or while a TLS connection learns whether the
 * origin speaks HTTP/2). It opens one spare that way, so at a steady number of requests
 * in flight the list is never empty and nothing is walked.
 *
 * The hooks are undici internals, not its public API: the version is pinned in
 * package.json, and this module refuses to load if they are gone.
 */

interface Connection {
  readonly closed: boolean;
  readonly destroyed: boolean;
}

interface PoolInternals {
  readonly kAddClient: unique symbol;
  readonly kClients: unique symbol;
  readonly kOnClientDrain: unique symbol;
  readonly kGetDispatcher: unique symbol;
  readonly kHasDispatcher: unique symbol;
  readonly kNeedDrain: unique symbol;
}

const internals = createRequire(import.meta.url)(
  'undici/lib/dispatcher/pool-base.js',
) as PoolInternals;
const missing = (
  [
    'kAddClient',
    'kClients',
    'kOnClientDrain',
    'kGetDispatcher',
    'kHasDispatcher',
    'kNeedDrain',
  ] as const
).filter((name) => typeof internals[name] !== 'symbol');
if (missing.length > 0) {
  throw new Error(
    `this undici's Pool lacks ${missing.join(', ')}: the deliverer's connection pool needs the version in package.json`,
  );
}
const { kAddClient, kClients, kOnClientDrain, kGetDispatcher, kHasDispatcher, kNeedDrain } =
  internals;

/** Calls the `Pool`'s own hook, which every override below calls first. */
const poolHooks = Pool.prototype as unknown as Record<symbol, (...args: unknown[]) => unknown>;
function inherited<T>(self: Pool, hook: symbol, ...args: unknown[]): T {
  return poolHooks[hook]!.apply(self, args) as T;
}

export class FreeListPool extends Pool {
  /**
   * Connections that became free, the latest last. Kept warm in that order: the latest is
   * handed out first, so at a low rate a few connections carry every request and the rest
   * close when idle, as with the `Pool`'s own choice (the first free one it opened). An
   * entry whose connection was taken since, or closed, is dropped when it comes up.
   */
  private readonly free: Connection[] = [];

  [kAddClient](client: Connection): unknown {
    const result = inherited<unknown>(this, kAddClient, client);
    // A new connection goes under the rest: it is not open yet, the others are.
    if (!busy(client)) this.free.unshift(client);
    return result;
  }

  [kOnClientDrain](client: Connection): void {
    inherited<void>(this, kOnClientDrain, client);
    this.free.push(client);
    // Entries of connections taken again pile up when none is dropped for a while.
    if (this.free.length > 2 * this.clientCount() + 64) this.compact();
  }

  [kGetDispatcher](): Connection | undefined {
    return this.latestFree() ?? inherited<Connection | undefined>(this, kGetDispatcher);
  }

  [kHasDispatcher](): boolean {
    return this.latestFree() !== undefined || inherited<boolean>(this, kHasDispatcher);
  }

  /** The connection freed last, dropping the entries above it that are stale. */
  private latestFree(): Connection | undefined {
    while (this.free.length > 0) {
      const client = this.free[this.free.length - 1]!;
      if (usable(client)) return client;
      this.free.pop();
    }
    return undefined;
  }

  private compact(): void {
    const seen = new Set<Connection>();
    const kept: Connection[] = [];
    for (let i = this.free.length - 1; i >= 0; i--) {
      const client = this.free[i]!;
      if (usable(client) && !seen.has(client)) {
        seen.add(client);
        kept.push(client);
      }
    }
    this.free.length = 0;
    for (let i = kept.length - 1; i >= 0; i--) this.free.push(kept[i]!);
  }

  private clientCount(): number {
    return (Reflect.get(this, kClients) as unknown as unknown[]).length;
  }
}

/** Free to take a request now, and not closed. */
function usable(client: Connection): boolean {
  return !busy(client) && !client.closed && !client.destroyed;
}

function busy(client: Connection): boolean {
  return Reflect.get(client, kNeedDrain) === true;
}
