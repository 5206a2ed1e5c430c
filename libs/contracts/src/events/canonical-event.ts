import { z } from 'zod';
import { EVENT_TYPES } from './event-types.js';

/**
 * The canonical mail event: what event-ingest produces for every accepted input,
 * whatever its source shape, and what matcher and deliverer consume.
 * Field names are snake_case because this is also the accepted input shape 1
 * and the `data` a receiver gets.
 */

/** Event ids are `evt_` plus URL-safe characters; ingest derives them from the source id. */
export const EVENT_ID_PATTERN = /^evt_[A-Za-z0-9_-]{8,100}$/;

/**
 * Fields every mail event may carry, under one set of names. Sources keep extra fields:
 * unknown keys pass through, so nothing a source sent is dropped.
 */
export const mailEventDataSchema = z.looseObject({
  message_id: z.string().max(998).optional(),
  from: z.string().max(998).optional(),
  to: z.union([z.string().max(998), z.array(z.string().max(998)).max(1000)]).optional(),
  subject: z.string().max(998).optional(),
});

export const canonicalEventSchema = z.object({
  id: z.string().regex(EVENT_ID_PATTERN, 'must be evt_ followed by 8 to 100 of [A-Za-z0-9_-]'),
  type: z.enum(EVENT_TYPES),
  organization_id: z.string().min(1).max(64),
  occurred_at: z.iso.datetime({ offset: true }),
  data: mailEventDataSchema,
});

export type CanonicalEvent = z.infer<typeof canonicalEventSchema>;

/** A canonical event as carried on the internal topic, with where it came from. */
export const ingestedEventSchema = canonicalEventSchema.extend({
  received_at: z.iso.datetime({ offset: true }),
  source: z.object({
    format: z.enum(['canonical', 'paubox', 'postal', 'generic', 'test']),
    id: z.string().max(200).optional(),
  }),
  /**
   * Set only on test events (`POST /v1/webhooks/{id}/test`): the one subscription it is
   * for. The matcher sends it there alone, whatever its type and scope.
   */
  target_subscription_id: z.string().optional(),
  /**
   * The version of that subscription the test was sent for: a matcher whose index has not
   * reached it yet (the API's change is still on its way) sends the test on all the same,
   * and the deliverer waits for that version before sending.
   */
  target_subscription_version: z.number().int().positive().optional(),
});

export type IngestedEvent = z.infer<typeof ingestedEventSchema>;
