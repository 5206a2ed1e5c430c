import { z } from 'zod';
import { ingestedEventSchema } from './canonical-event.js';

/**
 * One delivery job per (event, matching subscription). `deliveryId` is derived from
 * the pair, so a job produced twice (a matcher restart) has the same id, and receivers
 * see the same `webhook-id` on every attempt and every duplicate.
 */
export const deliveryJobSchema = z.object({
  deliveryId: z.string(),
  subscriptionId: z.string(),
  organizationId: z.string(),
  /** The subscription version the matcher matched; the deliverer waits for its view to reach it. */
  subscriptionVersion: z.number().int().positive(),
  /** 1 for the first attempt. */
  attempt: z.number().int().positive(),
  /** Not before this time (retries); ISO-8601. */
  notBefore: z.iso.datetime({ offset: true }).optional(),
  /**
   * How often the job was put off, unattempted, because its endpoint was saturated: each
   * time it waits the next delay of the retry schedule (ADR 0010). Absent means none.
   */
  deferrals: z.number().int().nonnegative().optional(),
  /**
   * The time the endpoint asked not to be called again before (`Retry-After` on a 429 or
   * 503), when that is past `notBefore`: further than the longest retry delay. The job
   * waits on, a delay at a time, until then (ADR 0005).
   */
  retryAfter: z.iso.datetime({ offset: true }).optional(),
  event: ingestedEventSchema,
});

export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

export const ATTEMPT_OUTCOMES = [
  /** 2xx */
  'succeeded',
  /** Non-2xx, timeout, connection error, refused address: retried if attempts remain. */
  'failed',
  /** Not sent: the breaker for the endpoint was open. */
  'short_circuited',
  /** Not sent: the subscription was paused, failed, disabled or deleted. */
  'skipped',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** How much of a failed attempt's answer the delivery log keeps. */
export const RESPONSE_EXCERPT_BYTES = 1_024;

export const attemptEventSchema = z.object({
  attemptId: z.string(),
  deliveryId: z.string(),
  subscriptionId: z.string(),
  organizationId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  attempt: z.number().int().positive(),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  httpStatus: z.number().int().nullable(),
  durationMs: z.number().nonnegative(),
  /** Short, secret-free description of what went wrong. */
  error: z.string().max(500).nullable(),
  /**
   * The start of what the endpoint answered to an attempt that failed with a status (its
   * first RESPONSE_EXCERPT_BYTES, as text), for the customer reading the log; null else.
   */
  responseBody: z.string().max(RESPONSE_EXCERPT_BYTES).nullable().optional(),
  /** When the next attempt is due, or null when there is none. */
  nextRetryAt: z.iso.datetime({ offset: true }).nullable(),
  /** The endpoint answered 410 Gone: the subscription is to be disabled. */
  gone: z.boolean().default(false),
  attemptedAt: z.iso.datetime({ offset: true }),
});

export type AttemptEvent = z.infer<typeof attemptEventSchema>;
