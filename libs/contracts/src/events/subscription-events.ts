import { z } from 'zod';

/**
 * Facts about subscriptions and organisations, as stored in the event store and
 * published (through the outbox) to the subscription-events topic. Each event carries
 * the subscription's new version; consumers fold them into their own views and can
 * tell a stale or repeated event by its version.
 *
 * Secrets appear only encrypted (`v1.<keyId>.<iv>.<ciphertext>.<tag>`), and so do custom
 * headers (ADR 0019).
 */

export const SUBSCRIPTION_STATUSES = ['active', 'paused', 'failed', 'disabled'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const PAYLOAD_FORMATS = ['standard', 'paubox', 'postal'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

const scopeSchema = z.object({
  domains: z.array(z.string()).default([]),
  mailboxes: z.array(z.string()).default([]),
});
export type SubscriptionScope = z.infer<typeof scopeSchema>;

const encryptedSecret = z.string().startsWith('v1.');

/**
 * A subscription's custom headers: one ciphertext of the whole map, names and values
 * (ADR 0019). A map in the clear is what was written before they were encrypted, or none
 * (`{}`, which hides nothing); readers take it as it is.
 */
const storedHeaders = z.union([encryptedSecret, z.record(z.string(), z.string())]);

/**
 * Requests a second at most to the subscription's endpoint (null: as fast as it answers).
 * Absent in events and states from before it existed: none.
 */
const rateLimit = z.number().int().positive().nullable().optional();

/**
 * The customer's own labels for the subscription (their ids, a team), returned as set and
 * used by nothing here. Absent in events and states from before it existed: none.
 */
const metadata = z.record(z.string(), z.string()).optional();

/**
 * Who made a change: a customer's API key (by id, never the key), the operator
 * (ADMIN_TOKEN, or a maintenance command), or Hookpost itself (a subscription paused for
 * its failures, disabled for a 410). Absent in events from before it was recorded.
 */
export const actorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('api_key'), id: z.string() }),
  z.object({ kind: z.literal('operator') }),
  z.object({ kind: z.literal('hookpost') }),
]);
export type Actor = z.infer<typeof actorSchema>;

const base = {
  eventId: z.string(),
  subscriptionId: z.string(),
  organizationId: z.string(),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime({ offset: true }),
  actor: actorSchema.optional(),
};

export const subscriptionCreatedSchema = z.object({
  ...base,
  type: z.literal('subscription.created'),
  data: z.object({
    url: z.string(),
    events: z.array(z.string()),
    scope: scopeSchema,
    headers: storedHeaders,
    format: z.enum(PAYLOAD_FORMATS),
    description: z.string().nullable(),
    rateLimit,
    metadata,
    secret: encryptedSecret,
  }),
});

export const subscriptionUpdatedSchema = z.object({
  ...base,
  type: z.literal('subscription.updated'),
  data: z.object({
    url: z.string().optional(),
    events: z.array(z.string()).optional(),
    scope: scopeSchema.optional(),
    headers: storedHeaders.optional(),
    format: z.enum(PAYLOAD_FORMATS).optional(),
    description: z.string().nullable().optional(),
    rateLimit,
    metadata,
  }),
});

export const subscriptionSecretRotatedSchema = z.object({
  ...base,
  type: z.literal('subscription.secret_rotated'),
  data: z.object({
    secret: encryptedSecret,
    /** The secret it replaces keeps signing until then. */
    previousSecret: encryptedSecret,
    previousSecretExpiresAt: z.iso.datetime({ offset: true }),
  }),
});

/**
 * The same secrets, encrypted again under the newest SECRET_ENCRYPTION_KEY (key rotation).
 * Nothing a receiver sees changes; the previous secret keeps its expiry.
 */
export const subscriptionSecretsReencryptedSchema = z.object({
  ...base,
  type: z.literal('subscription.secrets_reencrypted'),
  data: z.object({
    secret: encryptedSecret,
    previousSecret: encryptedSecret.nullable(),
    /** The secrets replaced before the previous one, in the state's order (absent: none). */
    olderSecrets: z.array(encryptedSecret).optional(),
    /** The custom headers, encrypted again, or for the first time (absent: unchanged). */
    headers: encryptedSecret.optional(),
  }),
});

export const subscriptionStatusChangedSchema = z.object({
  ...base,
  type: z.literal('subscription.status_changed'),
  data: z.object({
    status: z.enum(SUBSCRIPTION_STATUSES),
    /** Why: `api` (a user's call), `auto_pause` (too many failures), `gone` (HTTP 410). */
    reason: z.enum(['api', 'auto_pause', 'gone']),
  }),
});

export const subscriptionDeletedSchema = z.object({
  ...base,
  type: z.literal('subscription.deleted'),
  data: z.object({}),
});

export const subscriptionEventSchema = z.discriminatedUnion('type', [
  subscriptionCreatedSchema,
  subscriptionUpdatedSchema,
  subscriptionSecretRotatedSchema,
  subscriptionSecretsReencryptedSchema,
  subscriptionStatusChangedSchema,
  subscriptionDeletedSchema,
]);

export type SubscriptionEvent = z.infer<typeof subscriptionEventSchema>;
export type SubscriptionEventType = SubscriptionEvent['type'];

/**
 * A subscription as it stands after its latest event, as published to the compacted
 * subscription-state topic. `version` is that of the latest event: a view keeps the
 * highest version it has seen.
 */
export const subscriptionStateSchema = z.object({
  id: z.string(),
  organizationId: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  scope: scopeSchema,
  headers: storedHeaders,
  format: z.enum(PAYLOAD_FORMATS),
  description: z.string().nullable(),
  rateLimit,
  metadata,
  status: z.enum(SUBSCRIPTION_STATUSES),
  secret: encryptedSecret,
  previousSecret: z.object({ secret: encryptedSecret, expiresAt: z.string() }).nullable(),
  /**
   * Secrets replaced before the previous one that still sign (two rotations within the
   * overlap), newest first. Absent in states from before it existed: none.
   */
  olderSecrets: z.array(z.object({ secret: encryptedSecret, expiresAt: z.string() })).optional(),
  version: z.number().int().positive(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deleted: z.boolean(),
});

export type SubscriptionState = z.infer<typeof subscriptionStateSchema>;
export type StoredHeaders = SubscriptionState['headers'];

/**
 * An organisation as it stands after a change, to the compacted organisation topic.
 * `version` counts the organisation's changes (1 when created) in the order they
 * committed: a reader keeps the highest, as `occurredAt` (when the writing transaction
 * began, or the API host's clock) can run backwards. Absent in events from before it
 * existed: a reader compares those by `occurredAt`.
 */
const organizationFields = {
  eventId: z.string(),
  organizationId: z.string(),
  version: z.number().int().positive().optional(),
  occurredAt: z.iso.datetime({ offset: true }),
  data: z.object({ name: z.string(), domains: z.array(z.string()) }),
};

export const organizationEventSchema = z.discriminatedUnion('type', [
  z.object({ ...organizationFields, type: z.literal('organization.created') }),
  z.object({ ...organizationFields, type: z.literal('organization.updated') }),
  // The last event of a deleted organisation: no domains, and its id known to no one.
  z.object({ ...organizationFields, type: z.literal('organization.deleted') }),
]);

export type OrganizationEvent = z.infer<typeof organizationEventSchema>;
