import { ATTEMPT_OUTCOMES, PAYLOAD_FORMATS, SUBSCRIPTION_STATUSES } from '@hookpost/contracts';
import { expandEventFilters, normalizeEventFilters, secretProblem } from '@hookpost/domain';
import { z } from 'zod';
import { pageCursor, pageLimit } from '../http/paging.js';
import { domainName, mailbox } from '../organizations/organizations.schemas.js';

/**
 * The shape of webhook requests. Field rules that need the domain (URL policy, event
 * filters, custom headers) are checked by WebhooksService, which names the field too.
 */
const scope = z.strictObject({
  domains: z.array(domainName).max(100).default([]),
  mailboxes: z.array(mailbox).max(100).default([]),
});

/** A caller's own signing secret (else one is generated). */
const secret = z
  .string()
  .min(16, 'must be at least 16 characters')
  .max(200)
  .superRefine((value, ctx) => {
    const problem = secretProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * Requests a second at most to the endpoint (null: no limit). Higher than one deliverer
 * sends to a single endpoint; a receiver that wants more wants none.
 */
export const RATE_LIMIT_MAX = 10_000;
const rateLimit = z
  .number({ message: 'must be a whole number of requests a second, or null for no limit' })
  .int('must be a whole number of requests a second')
  .min(1, 'must be at least 1 request a second (null for no limit)')
  .max(RATE_LIMIT_MAX, `must be at most ${RATE_LIMIT_MAX} requests a second (null for no limit)`)
  .nullable();

/** Stripe's bounds on metadata: enough to hold a customer's ids, not a store of its own. */
export const METADATA_LIMITS = { keys: 50, keyLength: 40, valueLength: 500 } as const;
// No control characters (a log line or a terminal showing it stays intact).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const metadata = z
  .record(
    z.string(),
    z
      .string({ message: 'values must be strings' })
      .max(
        METADATA_LIMITS.valueLength,
        `values must be at most ${METADATA_LIMITS.valueLength} characters`,
      )
      .refine((value) => !CONTROL.test(value), 'values must not hold control characters'),
  )
  .superRefine((map, ctx) => {
    const keys = Object.keys(map);
    if (keys.length > METADATA_LIMITS.keys)
      ctx.addIssue({ code: 'custom', message: `must hold at most ${METADATA_LIMITS.keys} keys` });
    for (const key of keys) {
      const problem =
        key.length === 0
          ? 'keys must not be empty'
          : key.length > METADATA_LIMITS.keyLength
            ? `keys must be at most ${METADATA_LIMITS.keyLength} characters`
            : CONTROL.test(key)
              ? 'keys must not hold control characters'
              : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  })
  .nullable();

const fields = {
  url: z.string().max(2048),
  events: z.array(z.string().max(100)).min(1, 'must name at least one event').max(50),
  description: z.string().max(500).nullable(),
  headers: z.record(z.string(), z.unknown()).nullable(),
  scope,
  format: z.enum(PAYLOAD_FORMATS),
  rate_limit: rateLimit,
  metadata,
};

export const createWebhookSchema = z.strictObject({
  ...fields,
  secret: secret.optional(),
  description: fields.description.optional(),
  headers: fields.headers.optional(),
  scope: scope.optional(),
  format: fields.format.default('standard'),
  rate_limit: fields.rate_limit.optional(),
  metadata: fields.metadata.optional(),
});
export type CreateWebhookInput = z.infer<typeof createWebhookSchema>;

/**
 * PATCH, and PUT: any subset, the rest unchanged; `headers: null` clears the custom
 * headers, `rate_limit: null` the rate limit; `metadata` replaces the whole map (`null` or
 * `{}` clears it). PUT takes seed 002's update request
 * (`PUT {"events": [...]}`) as it is.
 */
export const patchWebhookSchema = z.strictObject({
  url: fields.url.optional(),
  events: fields.events.optional(),
  description: fields.description.optional(),
  headers: fields.headers.optional(),
  scope: scope.optional(),
  format: fields.format.optional(),
  rate_limit: fields.rate_limit.optional(),
  metadata: fields.metadata.optional(),
});
export type PatchWebhookInput = z.infer<typeof patchWebhookSchema>;

/** A page of webhooks, narrowed by status if asked (`?status=failed,paused`). */
export const listWebhooksQuery = z.strictObject({
  limit: pageLimit(),
  cursor: pageCursor(/^wh_[0-9A-HJKMNP-TV-Z]{26}$/),
  status: queryList(
    z.enum(SUBSCRIPTION_STATUSES, {
      message: `must be one of ${SUBSCRIPTION_STATUSES.join(', ')}`,
    }),
    SUBSCRIPTION_STATUSES.length,
  ).optional(),
});

/**
 * A list in a query string, given either way: `?status=failed,skipped` or
 * `?status=failed&status=skipped` (and a repeated field over gRPC).
 */
function queryList<T extends z.ZodType>(item: T, max: number) {
  return z.preprocess(
    (value) =>
      (Array.isArray(value) ? value : [value])
        .flatMap((entry) => String(entry).split(','))
        .map((entry) => entry.trim()),
    z.array(item).min(1).max(max),
  );
}

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time' });

/**
 * The delivery log of a webhook, newest first, narrowed by any of: outcome, event type
 * (names, aliases and wildcards, as a subscription's filter takes them), one delivery or
 * event, and a window of attempt times (since inclusive, until exclusive).
 */
export const logsQuery = z
  .strictObject({
    limit: pageLimit(),
    cursor: pageCursor(/^att_[0-9A-HJKMNP-TV-Z]{26}$/),
    status: queryList(
      z.enum(ATTEMPT_OUTCOMES, { message: `must be one of ${ATTEMPT_OUTCOMES.join(', ')}` }),
      ATTEMPT_OUTCOMES.length,
    ).optional(),
    event_type: queryList(z.string().max(100), 50)
      .transform((filters, ctx) => {
        const normalized = normalizeEventFilters(filters);
        if (normalized.ok) return expandEventFilters(normalized.filters);
        for (const error of normalized.errors)
          ctx.addIssue({ code: 'custom', message: error.message });
        return z.NEVER;
      })
      .optional(),
    delivery_id: z
      .string()
      .regex(/^del_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a delivery id (del_...)')
      .optional(),
    event_id: z.string().min(1).max(200).optional(),
    since: isoTime.optional(),
    until: isoTime.optional(),
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.until) > Date.parse(q.since), {
    path: ['until'],
    message: 'must be after since',
  });
export type LogsQuery = z.infer<typeof logsQuery>;

/** The longest window of delivery stats: one pass over that many days of attempts. */
export const STATS_WINDOW_MAX_DAYS = 31;
const DAY_MS = 86_400_000;

/**
 * The window of delivery stats: since (inclusive) and until (exclusive), by default the
 * last 24 hours (until now, or the day before until).
 */
export const statsQuery = z
  .strictObject({ since: isoTime.optional(), until: isoTime.optional() })
  .transform((query, ctx) => {
    const until = query.until ? Date.parse(query.until) : Date.now();
    const since = query.since ? Date.parse(query.since) : until - DAY_MS;
    if (since >= until)
      ctx.addIssue({
        code: 'custom',
        path: [query.until ? 'until' : 'since'],
        message: query.until ? 'must be after since' : 'must be in the past',
      });
    else if (until - since > STATS_WINDOW_MAX_DAYS * DAY_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['since'],
        message: `must be at most ${STATS_WINDOW_MAX_DAYS} days before until`,
      });
    return { since: new Date(since).toISOString(), until: new Date(until).toISOString() };
  });

/** pause, resume, retry: nothing to say but the path; a body, if any, must be `{}`. */
/** A page of a webhook's changes, newest first; the cursor is the version to go on below. */
export const historyQuery = z.strictObject({
  limit: pageLimit(),
  cursor: pageCursor(/^[1-9][0-9]{0,8}$/).transform((cursor) =>
    cursor === undefined ? cursor : Number(cursor),
  ),
});

export const emptySchema = z.strictObject({});

export const testSchema = z.strictObject({
  type: z.string().max(100).optional(),
});

export const replaySchema = z
  .strictObject({
    since: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time' }),
    until: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time' }).optional(),
    /** Only the deliveries attempted in the window that never succeeded (Svix's "recover"). */
    failed_only: z.boolean().optional(),
  })
  .refine((body) => !body.until || Date.parse(body.until) > Date.parse(body.since), {
    path: ['until'],
    message: 'must be after since',
  })
  // Without until, the window ends now: a since after it would be an empty window.
  .refine((body) => body.until || Date.parse(body.since) < Date.now(), {
    path: ['since'],
    message: 'must be in the past (or give an until after it)',
  });

export const rotateSchema = z.strictObject({
  secret: secret.optional(),
});
