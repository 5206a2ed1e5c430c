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

/** An ISO-8601 date and time, with or without seconds, fraction and offset. */
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Epoch seconds (Postal) or an ISO-8601 string -> the canonical UTC string, or undefined
 * when neither. A time without an offset is UTC, not the server's local time. A date that
 * does not exist (2024-02-30, 24:00) is refused rather than rolled over, and so is a time
 * whose UTC year is past 9999, which the canonical format cannot write, or is the year 0,
 * which Postgres has not got (its `timestamptz` refuses 0000-01-01: the event log could
 * not store the event).
 */
export function toIso(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value > 0 && value < 1e11
      ? fourDigitYear(new Date(value * 1000))
      : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const parts = ISO_DATE_TIME.exec(value);
  if (!parts) return undefined;
  const [, year, month, day, hour, minute, second = '00', offset] = parts;
  const written = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
  const exists =
    written.getUTCFullYear() === Number(year) &&
    written.getUTCMonth() + 1 === Number(month) &&
    written.getUTCDate() === Number(day) &&
    written.getUTCHours() === Number(hour) &&
    written.getUTCMinutes() === Number(minute) &&
    written.getUTCSeconds() === Number(second);
  return exists ? fourDigitYear(new Date(offset ? value : `${value}Z`)) : undefined;
}

function fourDigitYear(date: Date): string | undefined {
  if (Number.isNaN(date.getTime())) return undefined;
  const iso = date.toISOString();
  return /^\d{4}-/.test(iso) && !iso.startsWith('0000') ? iso : undefined;
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
