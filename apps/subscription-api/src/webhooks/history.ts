import type { Actor, StoredHeaders, SubscriptionEvent } from '@hookpost/contracts';

/** One change to a webhook as its owner reads it (`GET /v1/webhooks/{id}/history`). */
export interface HistoryEntry {
  version: number;
  type:
    'created' | 'updated' | 'secret_rotated' | 'secrets_reencrypted' | 'status_changed' | 'deleted';
  occurred_at: string;
  /** Null for a change made before changes recorded who made them. */
  actor: Actor | null;
  /** What the change set, as the webhook's own fields are named; never a secret. */
  changes: Record<string, unknown>;
}

/**
 * The names of stored custom headers, or null when they cannot be opened any more (sealed
 * under an encryption key the operator has since retired). Their values stay out of the
 * history: a header often carries the receiver's own credential, and the history keeps
 * every one it ever had.
 */
export type HeaderNames = (stored: StoredHeaders) => string[] | null;

/** The editable fields a creation or an update set, named as in the API. */
function fieldsSet(
  data: Extract<
    SubscriptionEvent,
    { type: 'subscription.created' | 'subscription.updated' }
  >['data'],
  headerNames: HeaderNames,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  if (data.url !== undefined) changes.url = data.url;
  if (data.events !== undefined) changes.events = data.events;
  if (data.scope !== undefined) changes.scope = data.scope;
  if (data.headers !== undefined) changes.header_names = headerNames(data.headers);
  if (data.format !== undefined) changes.format = data.format;
  if (data.description !== undefined) changes.description = data.description;
  if (data.rateLimit !== undefined) changes.rate_limit = data.rateLimit;
  if (data.metadata !== undefined) changes.metadata = data.metadata;
  return changes;
}

export function historyEntry(event: SubscriptionEvent, headerNames: HeaderNames): HistoryEntry {
  const entry = (type: HistoryEntry['type'], changes: Record<string, unknown> = {}) => ({
    version: event.version,
    type,
    occurred_at: event.occurredAt,
    actor: event.actor ?? null,
    changes,
  });
  switch (event.type) {
    case 'subscription.created':
      return entry('created', fieldsSet(event.data, headerNames));
    case 'subscription.updated':
      return entry('updated', fieldsSet(event.data, headerNames));
    case 'subscription.secret_rotated':
      return entry('secret_rotated', {
        previous_secret_expires_at: event.data.previousSecretExpiresAt,
      });
    // The operator's change of encryption key: nothing the endpoint sees changes.
    case 'subscription.secrets_reencrypted':
      return entry('secrets_reencrypted');
    case 'subscription.status_changed':
      return entry('status_changed', { status: event.data.status, reason: event.data.reason });
    case 'subscription.deleted':
      return entry('deleted');
  }
}
