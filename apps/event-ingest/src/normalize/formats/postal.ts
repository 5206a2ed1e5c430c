import { POSTAL_PAYLOAD_RENAMES } from '@hookpost/domain';
import { defined, isObject, toIso, without, type Json, type Mapped } from './source-event.js';

/**
 * Shape 3, Postal's webhooks (seed 003): `{"event": "MessageSent", "timestamp": 1670907960.48,
 * "payload": {message: {...}, status, details, output, ...}, "uuid"}`.
 */
export function isPostal(json: Json): boolean {
  return typeof json.event === 'string' && isObject(json.payload);
}

export function mapPostal(json: Json): Mapped {
  const payload = json.payload as Json;
  const occurredAt = toIso(json.timestamp);
  if (!occurredAt) return { ok: false, detail: 'timestamp: expected seconds since the epoch' };
  if (typeof json.uuid !== 'string' || json.uuid.length === 0)
    return { ok: false, detail: 'uuid: missing' };
  // MessageBounced carries the bounced message as `original_message` (and the bounce
  // itself, a message of its own, as `bounce`); the other events as `message`.
  const message = isObject(payload.message)
    ? payload.message
    : isObject(payload.original_message)
      ? payload.original_message
      : {};
  const status = typeof payload.status === 'string' ? payload.status : undefined;
  return {
    ok: true,
    event: {
      format: 'postal',
      typeName: json.event as string,
      sourceId: json.uuid,
      occurredAt,
      data: defined({
        ...renamed(without(payload, ['message', 'original_message', 'output'])),
        ...without(message, ['id', 'message_id']),
        message_id: message.message_id,
        provider_message_id: message.id,
        smtp_output: payload.output,
        // Postal says HardFail / SoftFail where others say hard / soft.
        bounce_type: status === 'HardFail' ? 'hard' : status === 'SoftFail' ? 'soft' : undefined,
      }),
    },
  };
}

/** The payload's fields, those named as a message field is under their canonical names. */
function renamed(fields: Json): Json {
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [POSTAL_PAYLOAD_RENAMES.get(key) ?? key, value]),
  );
}
