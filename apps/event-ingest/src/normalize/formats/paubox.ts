import { defined, isObject, toIso, without, type Json, type Mapped } from './source-event.js';

/**
 * Shape 2, Paubox's API Mail Log webhooks (seeds 000, 001):
 * `{"event_name": "api_mail_log_delivered", "payload": {id, header_message_id, from, to, subject, time, ...}}`.
 */
export function isPaubox(json: Json): boolean {
  return typeof json.event_name === 'string' && isObject(json.payload);
}

export function mapPaubox(json: Json): Mapped {
  const payload = json.payload as Json;
  const occurredAt = toIso(payload.time);
  if (!occurredAt) return { ok: false, detail: 'payload.time: expected an ISO-8601 time' };
  if (payload.id === undefined || payload.id === null)
    return { ok: false, detail: 'payload.id: missing' };
  const name = json.event_name as string;
  return {
    ok: true,
    event: {
      format: 'paubox',
      typeName: name,
      // One mail log id covers every event of a message (and opens repeat): name and time tell them apart.
      sourceId: `${name}:${String(payload.id)}:${occurredAt}`,
      occurredAt,
      data: defined({
        ...without(payload, ['id', 'header_message_id', 'time']),
        message_id: payload.header_message_id,
        provider_message_id: payload.id,
      }),
    },
  };
}
