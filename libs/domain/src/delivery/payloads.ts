import {
  EVENT_TYPE_ALIASES,
  type EventType,
  type IngestedEvent,
  type PayloadFormat,
} from '@hookpost/contracts';

/**
 * The body a receiver gets, in the format its subscription chose. Receivers written for
 * Paubox or Postal webhooks get those systems' shapes and field names (the ingest's
 * mappers in reverse), so they work unchanged.
 * The body is serialised once (`JSON.stringify`) and signed and sent as exactly those bytes.
 */

/** The source name of each canonical type, per format; the first alias in the catalogue wins. */
function reverseAliases(pattern: RegExp): Partial<Record<EventType, string>> {
  const out: Partial<Record<EventType, string>> = {};
  for (const [alias, type] of Object.entries(EVENT_TYPE_ALIASES)) {
    if (pattern.test(alias) && !(type in out)) out[type] = alias;
  }
  return out;
}

const PAUBOX_NAMES = reverseAliases(/^api_mail_log_/);
const POSTAL_NAMES = reverseAliases(/^[A-Z]/);

export function pauboxEventName(type: EventType): string {
  // Paubox names only four events; the others follow its naming pattern.
  return PAUBOX_NAMES[type] ?? `api_mail_log_${type.split('.')[1]}`;
}

export function postalEventName(type: EventType): string {
  return POSTAL_NAMES[type] ?? `Message${capitalise(type.split('.')[1] ?? type)}`;
}

function capitalise(word: string): string {
  return word.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

export function renderPayload(event: IngestedEvent, format: PayloadFormat): unknown {
  switch (format) {
    case 'standard':
      return { id: event.id, type: event.type, timestamp: event.occurred_at, data: event.data };
    case 'paubox':
      return {
        event_name: pauboxEventName(event.type),
        payload: { ...pauboxPayload(event.data), time: event.occurred_at },
      };
    case 'postal':
      return {
        event: postalEventName(event.type),
        timestamp: Date.parse(event.occurred_at) / 1000,
        payload: event.type === 'domain.dns_error' ? event.data : postalPayload(event.data),
        // A Postal event keeps the uuid Postal gave it, which its receivers may already
        // have seen (a replay from Postal's own log, say); any other has the event's id.
        uuid: (event.source.format === 'postal' && event.source.id) || event.id,
      };
  }
}

/**
 * Paubox's names for the fields the ingest renamed (`id` is its mail log id,
 * `header_message_id` the Message-ID header); every other field as it is.
 */
function pauboxPayload(data: Record<string, unknown>): Record<string, unknown> {
  const { message_id, provider_message_id, ...rest } = data;
  return {
    ...rest,
    ...(provider_message_id !== undefined && { id: provider_message_id }),
    ...(message_id !== undefined && { header_message_id: message_id }),
  };
}

/**
 * Postal fields beside `payload.message` that share a name with one of the message's own
 * (a delivery's `timestamp`, a clicked link's `token`): the flat canonical `data` keeps
 * them under these names, and the Postal format gives them theirs back.
 */
export const POSTAL_PAYLOAD_RENAMES: ReadonlyMap<string, string> = new Map([
  ['timestamp', 'delivery_timestamp'],
  ['token', 'link_token'],
]);
const POSTAL_PAYLOAD_NAMES: ReadonlyMap<string, string> = new Map(
  [...POSTAL_PAYLOAD_RENAMES].map(([postal, canonical]) => [canonical, postal]),
);

/** The fields Postal sends under `payload.message`; the others sit beside it. */
const POSTAL_MESSAGE_FIELDS: ReadonlySet<string> = new Set([
  'token',
  'direction',
  'to',
  'from',
  'subject',
  'timestamp',
  'spam_status',
  'tag',
]);

/**
 * Postal's nesting, which the ingest flattened: `{message: {id, message_id, to, from, ...},
 * status, details, output, ...}`, with `HardFail` / `SoftFail` where a bounce's type is
 * known and the source did not say so itself.
 */
function postalPayload(data: Record<string, unknown>): Record<string, unknown> {
  const { message_id, provider_message_id, smtp_output, ...rest } = data;
  const message: Record<string, unknown> = {};
  const beside: Record<string, unknown> = {};
  if (provider_message_id !== undefined) message.id = provider_message_id;
  if (message_id !== undefined) message.message_id = message_id;
  for (const [key, value] of Object.entries(rest)) {
    if (POSTAL_MESSAGE_FIELDS.has(key)) message[key] = value;
    else beside[POSTAL_PAYLOAD_NAMES.get(key) ?? key] = value;
  }
  if (smtp_output !== undefined) beside.output = smtp_output;
  const status =
    rest.bounce_type === 'hard' ? 'HardFail' : rest.bounce_type === 'soft' ? 'SoftFail' : undefined;
  if (status !== undefined) {
    // The ingest read `bounce_type` from Postal's status: one says what the other does.
    if (beside.status === undefined) beside.status = status;
    if (beside.status === status) delete beside.bounce_type;
  }
  return { message, ...beside };
}

export function serialisePayload(event: IngestedEvent, format: PayloadFormat): string {
  return JSON.stringify(renderPayload(event, format));
}
