import { defined, isObject, toIso, without, type Json, type Mapped } from './source-event.js';

/**
 * Shape 4, the generic email-API style (seed 002: `{"id": "evt_...", "type": "delivered",
 * "created_at", "data": {email_id, from, to, ...}}`) and Robotomail's (seed 004: types such
 * as `message.complaint`, a `timestamp`).
 */
export function isGeneric(json: Json): boolean {
  return (
    typeof json.type === 'string' &&
    isObject(json.data) &&
    ('created_at' in json || 'timestamp' in json)
  );
}

export function mapGeneric(json: Json): Mapped {
  const data = { ...(json.data as Json) };
  // `Hard` and `SOFT` are what `hard` and `soft` are; a word of its own stays as it came.
  if (typeof data.bounce_type === 'string' && /^(hard|soft)$/i.test(data.bounce_type))
    data.bounce_type = data.bounce_type.toLowerCase();
  const occurredAt = toIso(json.created_at ?? json.timestamp);
  if (!occurredAt) return { ok: false, detail: 'created_at: expected an ISO-8601 time' };
  if (typeof json.id !== 'string' || json.id.length === 0 || json.id.length > 200) {
    return { ok: false, detail: 'id: expected the source event id' };
  }
  return {
    ok: true,
    event: {
      format: 'generic',
      // Seed 002's `bounced` covers hard and soft bounces; the catalogue makes a soft
      // bounce `message.delayed` (its alias `soft_bounce`), since delivery is retried.
      typeName:
        json.type === 'bounced' && data.bounce_type === 'soft'
          ? 'soft_bounce'
          : (json.type as string),
      sourceId: json.id,
      occurredAt,
      // Named as the canonical shape names it: the producer's word over the sender domain.
      organizationId:
        typeof json.organization_id === 'string' &&
        json.organization_id.length > 0 &&
        json.organization_id.length <= 64
          ? json.organization_id
          : undefined,
      // Seed 002 names the email by `email_id` alone; one that also sends a `message_id`
      // keeps both as they came (ADR 0016).
      data:
        data.message_id === undefined || data.message_id === null
          ? defined({
              ...without(data, ['email_id']),
              // A platform's numeric id is its id all the same.
              message_id: typeof data.email_id === 'number' ? String(data.email_id) : data.email_id,
            })
          : defined(data),
    },
  };
}
