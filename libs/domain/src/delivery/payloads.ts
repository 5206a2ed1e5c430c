import {
  EVENT_TYPE_ALIASES,
  type EventType,
  type IngestedEvent,
  type PayloadFormat,
} from '@hookpost/contracts';

/**
 * The body a receiver gets, in the format its subscription chose. Receivers written for
 * Paubox or Postal webhooks get those systems' shapes and names, so they work unchanged.
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
        payload: { ...event.data, time: event.occurred_at },
      };
    case 'postal':
      return {
        event: postalEventName(event.type),
        timestamp: Date.parse(event.occurred_at) / 1000,
        payload: event.data,
        uuid: event.id,
      };
  }
}

export function serialisePayload(event: IngestedEvent, format: PayloadFormat): string {
  return JSON.stringify(renderPayload(event, format));
}
