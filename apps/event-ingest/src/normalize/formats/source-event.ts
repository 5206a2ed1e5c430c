/**
 * What a source format's mapper makes of a message: the source's own event name and id,
 * when it happened, the tenant if the message names one, and `data` under canonical
 * field names (with everything else the source sent kept as it was).
 */
export interface SourceEvent {
  format: 'canonical' | 'paubox' | 'postal' | 'generic';
  /** The name the source gave the event (`api_mail_log_delivered`, `MessageSent`, ...). */
  typeName: string;
  /** The source's id of this event, for a stable event id and dedupe. */
  sourceId: string;
  occurredAt: string;
  organizationId?: string;
  data: Record<string, unknown>;
}

export type Mapped = { ok: true; event: SourceEvent } | { ok: false; detail: string };

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Epoch seconds (Postal) or an ISO string -> ISO string, or undefined when neither. */
export function toIso(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1e11) {
    return new Date(value * 1000).toISOString();
  }
  if (
    typeof value === 'string' &&
    !Number.isNaN(Date.parse(value)) &&
    /^\d{4}-\d{2}-\d{2}T/.test(value)
  ) {
    return new Date(value).toISOString();
  }
  return undefined;
}

/** `{ a, b, ... }` without the listed keys. */
export function without(object: Json, keys: readonly string[]): Json {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !keys.includes(key)));
}

/**
 * Canonical fields that hold a value or are absent: a source's `null` there (Postal sends
 * `message_id: null` for an email without a Message-ID header) means it has none.
 */
const ABSENT_WHEN_NULL: ReadonlySet<string> = new Set([
  'message_id',
  'provider_message_id',
  'from',
  'to',
  'subject',
]);

/** `object` without undefined fields, nor null canonical ones. */
export function defined(object: Json): Json {
  return Object.fromEntries(
    Object.entries(object).filter(
      ([key, value]) => value !== undefined && !(value === null && ABSENT_WHEN_NULL.has(key)),
    ),
  );
}
