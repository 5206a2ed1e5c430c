import { z } from 'zod';
import type { EventType } from './event-types.js';

/**
 * What `data` holds for each event type, under one set of canonical names, whatever the
 * source called them. Every schema is open: fields a source sent that have no canonical
 * name are kept as they were, so nothing is lost.
 */
const address = z.string().max(998);

const message = {
  message_id: z.string().max(998).optional().describe('The Message-ID header of the email'),
  provider_message_id: z
    .union([z.string(), z.number()])
    .optional()
    .describe("The mail platform's own id of the message"),
  from: address.optional().describe('Sender address'),
  to: z
    .union([address, z.array(address).max(1000)])
    .optional()
    .describe('Recipient address(es)'),
  subject: z.string().max(998).optional(),
  tag: z.string().max(200).nullable().optional(),
  custom_headers: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .optional()
    .describe('Custom headers the message was sent with'),
};

const smtp = {
  smtp_output: z.string().max(10_000).optional().describe("The receiving server's SMTP reply"),
  details: z.string().max(10_000).optional().describe('Human-readable explanation'),
};

const base = z.looseObject(message);

export const EVENT_DATA_SCHEMAS = {
  'message.queued': base,
  'message.sent': base,
  'message.delivered': base.extend({ ...smtp, delivered_at: z.string().optional() }),
  'message.delayed': base.extend({ ...smtp, retry_at: z.string().optional() }),
  'message.bounced': base.extend({
    ...smtp,
    bounce_type: z
      .string()
      .max(50)
      .optional()
      .describe('hard or soft; a word of its own where the source has one (Transient, ...)'),
    bounce_code: z
      .union([z.string().max(20), z.number().int()])
      .optional()
      .describe('SMTP status code, e.g. 550, as the source wrote it'),
    bounce_message: z.string().max(10_000).optional(),
  }),
  'message.held': base.extend(smtp),
  'message.opened': base.extend({
    ip_address: z.string().optional(),
    user_agent: z.string().optional(),
  }),
  'message.clicked': base.extend({
    url: z.string().max(8192).optional().describe('The link that was clicked'),
    ip_address: z.string().optional(),
    user_agent: z.string().optional(),
  }),
  'message.complained': base.extend({ feedback_type: z.string().optional() }),
  'message.received': base,
  // No email of its own, but the fields every event on the topic may carry are typed here
  // too, so that what the ingest accepts every consumer of the topic can read.
  'domain.dns_error': z.looseObject({
    domain: z.string().max(253).optional(),
    ...smtp,
    message_id: message.message_id,
    from: message.from,
    to: message.to,
    subject: message.subject,
  }),
} satisfies Record<EventType, z.ZodType>;

export const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  'message.queued': 'The email was accepted and queued for sending.',
  'message.sent': 'The email was accepted for delivery and is being sent.',
  'message.delivered': "The recipient's server accepted the email.",
  'message.delayed': 'Delivery failed temporarily (soft bounce); it will be retried.',
  'message.bounced': 'Delivery failed permanently (hard bounce), or a bounce came back later.',
  'message.held': 'The email was held (a limit was reached, or the server is in development mode).',
  'message.opened': 'The recipient opened the email (when tracking is on).',
  'message.clicked': 'The recipient clicked a link in the email (when tracking is on).',
  'message.complained': 'The recipient marked the email as spam.',
  'message.received': 'An inbound email arrived.',
  'domain.dns_error': "A problem was found in a sending domain's DNS records.",
};

/** The JSON Schema of the payload a receiver gets for `type`, in the default format. */
export function payloadJsonSchema(type: EventType): Record<string, unknown> {
  return z.toJSONSchema(
    z.object({
      id: z.string().describe('Event id, evt_...'),
      type: z.literal(type),
      timestamp: z.string().describe('When the event happened, ISO-8601'),
      data: EVENT_DATA_SCHEMAS[type],
    }),
    { target: 'draft-2020-12', unrepresentable: 'any' },
  ) as Record<string, unknown>;
}
