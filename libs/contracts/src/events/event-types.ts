/**
 * The canonical catalogue of mail event types (SPEC section 2), and the names the
 * source systems use for them. One place: ingest maps with it, the API normalises
 * subscription filters with it, and the deliverer renders the seed formats with it.
 */
export const EVENT_TYPES = [
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.delayed',
  'message.bounced',
  'message.held',
  'message.opened',
  'message.clicked',
  'message.complained',
  'message.received',
  'domain.dns_error',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(value: string): value is EventType {
  return EVENT_TYPE_SET.has(value);
}

/**
 * Every name a seed uses for a canonical type. Keys are matched exactly
 * (the sources are case-sensitive and so are we).
 */
export const EVENT_TYPE_ALIASES: Readonly<Record<string, EventType>> = {
  // seed 002 (generic)
  queued: 'message.queued',
  sending: 'message.sent',
  delivered: 'message.delivered',
  bounced: 'message.bounced',
  complained: 'message.complained',
  opened: 'message.opened',
  clicked: 'message.clicked',
  soft_bounce: 'message.delayed',
  // seeds 000/001 (Paubox)
  api_mail_log_delivered: 'message.delivered',
  api_mail_log_temporary_failure: 'message.delayed',
  api_mail_log_permanent_failure: 'message.bounced',
  api_mail_log_opened: 'message.opened',
  // seed 003 (Postal)
  MessageSent: 'message.delivered',
  MessageDelayed: 'message.delayed',
  MessageDeliveryFailed: 'message.bounced',
  MessageHeld: 'message.held',
  MessageBounced: 'message.bounced',
  MessageLinkClicked: 'message.clicked',
  MessageLoaded: 'message.opened',
  DomainDNSError: 'domain.dns_error',
  // seed 004 (Robotomail)
  'message.complaint': 'message.complained',
};

/** Resolves a canonical name or a seed alias to the canonical type, or undefined. */
export function canonicalEventType(name: string): EventType | undefined {
  if (isEventType(name)) return name;
  return Object.hasOwn(EVENT_TYPE_ALIASES, name) ? EVENT_TYPE_ALIASES[name] : undefined;
}
