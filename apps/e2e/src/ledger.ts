import { LocalReceiver, type ReceivedRequest } from '@hookpost/testing';
import type { ServerResponse } from 'node:http';

/** What arrived for one (event, endpoint) pair: how often, and under which webhook-ids. */
interface Arrivals {
  count: number;
  webhookId: string;
  /** Other webhook-ids seen for the same pair: a redelivery must never bring one. */
  otherIds: string[];
}

/**
 * A real HTTP receiver for runs of hundreds of thousands of webhooks: answers 200 at
 * once and keeps, per (endpoint path, event id), only a count and the webhook-ids, where
 * RecordingReceiver would keep every request whole.
 */
export class LedgerReceiver extends LocalReceiver {
  private readonly arrivals = new Map<string, Arrivals>();
  /** Requests whose body carried no event id (never expected). */
  unreadable = 0;
  /** When each repeated request arrived (ms since the epoch), to tell which fault caused it. */
  readonly repeatedAt: number[] = [];

  constructor() {
    super();
    // Idle connections are closed by the client, never here: a server that closes one as
    // the deliverer reuses it fails that attempt, and on a starved machine (timers late by
    // seconds) bursts of those would look like a broken endpoint and get it auto-paused.
    this.server.keepAliveTimeout = 0;
  }

  protected receive(request: ReceivedRequest, res: ServerResponse): void {
    res.writeHead(200).end();
    const eventId = eventIdOf(request.body);
    if (eventId === undefined) {
      this.unreadable++;
      return;
    }
    const key = pairKey(request.path, eventId);
    const webhookId = String(request.headers['webhook-id'] ?? '');
    const seen = this.arrivals.get(key);
    if (!seen) this.arrivals.set(key, { count: 1, webhookId, otherIds: [] });
    else {
      seen.count++;
      this.repeatedAt.push(request.receivedAt);
      if (webhookId !== seen.webhookId) seen.otherIds.push(webhookId);
    }
  }

  /** Distinct pairs received so far. */
  get pairs(): number {
    return this.arrivals.size;
  }

  /** Compares what arrived with what was expected: every expected pair by path and event id. */
  ledger(expected: Iterable<{ path: string; eventId: string }>): Ledger {
    const ledger: Ledger = {
      expected: 0,
      delivered: 0,
      missing: 0,
      duplicates: 0,
      duplicatesWithAnotherWebhookId: 0,
      unexpected: 0,
      missingSample: [],
    };
    const wanted = new Set<string>();
    for (const { path, eventId } of expected) {
      const key = pairKey(path, eventId);
      wanted.add(key);
      ledger.expected++;
      const seen = this.arrivals.get(key);
      if (!seen) {
        ledger.missing++;
        if (ledger.missingSample.length < 10) ledger.missingSample.push(key);
        continue;
      }
      ledger.delivered++;
      ledger.duplicates += seen.count - 1;
      ledger.duplicatesWithAnotherWebhookId += seen.otherIds.length;
    }
    for (const key of this.arrivals.keys()) if (!wanted.has(key)) ledger.unexpected++;
    ledger.unexpected += this.unreadable;
    return ledger;
  }
}

export interface Ledger {
  /** (event, subscription) pairs that should have been delivered. */
  expected: number;
  /** Expected pairs that arrived at least once. */
  delivered: number;
  missing: number;
  /** Requests beyond the first for an expected pair. */
  duplicates: number;
  /** Of those, the ones whose webhook-id differed from the first request's. */
  duplicatesWithAnotherWebhookId: number;
  /** Requests for pairs nobody subscribed to (or without an event id). */
  unexpected: number;
  missingSample: string[];
}

function pairKey(path: string, eventId: string): string {
  return `${path} ${eventId}`;
}

function eventIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
