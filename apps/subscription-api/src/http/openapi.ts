import { EVENT_TYPES } from '@hookpost/contracts';
import { z } from 'zod';
import { eventTypesQuery } from '../event-types/event-types.controller.js';
import { messageEventsQuery } from '../messages/messages.service.js';
import {
  createApiKeySchema,
  createOrganizationSchema,
  listApiKeysQuery,
  listOrganizationsQuery,
  updateOrganizationSchema,
} from '../organizations/organizations.schemas.js';
import {
  createWebhookSchema,
  listWebhooksQuery,
  logsQuery,
  patchWebhookSchema,
  RATE_LIMIT_MAX,
  replaySchema,
  rotateSchema,
  statsQuery,
  historyQuery,
  STATS_WINDOW_MAX_DAYS,
  testSchema,
} from '../webhooks/webhooks.schemas.js';

/**
 * The OpenAPI 3.1 description served at /docs: built from the same zod schemas that
 * validate requests, so the two cannot drift; responses, errors and examples are written
 * out here.
 */
type Json = Record<string, unknown>;

const request = (schema: z.ZodType): Json => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return rest;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const WEBHOOK_EXAMPLE = {
  id: 'wh_01JC8Z2M4T6Y9Q0W3E5R7T9Y1U',
  url: 'https://hooks.example.com/mail',
  events: ['message.delivered', 'message.bounced'],
  active: true,
  status: 'active',
  scope: { domains: [], mailboxes: [] },
  headers: { 'X-Team': 'mail' },
  format: 'standard',
  description: 'Delivery notifications',
  rate_limit: null,
  metadata: { customer_id: 'cus_4821' },
  version: 1,
  created_at: '2026-11-22T10:00:00.000Z',
  updated_at: '2026-11-22T10:00:00.000Z',
};
const ORGANIZATION_EXAMPLE = {
  id: 'org_01JC8YZ8Q2W4E6R8T0Y2U4I6O8',
  name: 'Acme Mail',
  domains: ['acme.example'],
  created_at: '2026-11-22T09:00:00.000Z',
  updated_at: '2026-11-22T09:00:00.000Z',
};
const API_KEY_EXAMPLE = {
  id: 'key_01JC8Z0A2S4D6F8G0H2J4K6L8Z',
  organization_id: 'org_01JC8YZ8Q2W4E6R8T0Y2U4I6O8',
  name: 'Production mail app',
  key_prefix: 'hpk_Xk3v',
  scope: { domains: ['acme.example'] },
  created_at: '2026-11-22T09:00:00.000Z',
  last_used_at: '2026-11-22T11:42:00.000Z',
  expires_at: null,
  revoked_at: null,
};
const SECRET_EXAMPLE = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw9w8hPSWn4oA=';

const schemas: Record<string, Json> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'details'],
        properties: {
          code: {
            type: 'string',
            description:
              'Stable, machine-readable. A 422 says invalid_<field> (invalid_url, invalid_events, ...) ' +
              'when one field is at fault, validation_failed when several are; details name each.',
          },
          message: { type: 'string', description: 'Names the problem' },
          details: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                field: { type: 'string' },
                code: { type: 'string' },
                message: { type: 'string' },
              },
            },
          },
        },
      },
    },
    example: {
      error: {
        code: 'invalid_url',
        message: 'invalid request: url',
        details: [{ field: 'url', code: 'url_not_https', message: 'the URL must use https' }],
      },
    },
  },
  Webhook: {
    type: 'object',
    properties: {
      id: { type: 'string', pattern: '^wh_' },
      url: { type: 'string' },
      events: { type: 'array', items: { type: 'string' } },
      active: { type: 'boolean' },
      status: { enum: ['active', 'paused', 'failed', 'disabled'] },
      scope: {
        type: 'object',
        properties: {
          domains: { type: 'array', items: { type: 'string' } },
          mailboxes: { type: 'array', items: { type: 'string' } },
        },
      },
      headers: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description:
          'At most 10, added to every delivery. Names are HTTP tokens of at most 256 characters; ' +
          'webhook-* and x-webhook-* are reserved, and Host, Content-Length, Content-Type, ' +
          'Transfer-Encoding, Connection, Keep-Alive, Upgrade, TE, Trailer, User-Agent and ' +
          'Expect are refused. Values: at most 1024 characters, Latin-1, no control characters. ' +
          'null in a PATCH clears them.',
      },
      format: {
        enum: ['standard', 'paubox', 'postal'],
        description:
          "The body's shape: standard ({id, type, timestamp, data}), or Paubox's or Postal's " +
          'own webhook shape and field names, for receivers written for those systems',
      },
      description: { type: ['string', 'null'] },
      rate_limit: {
        type: ['integer', 'null'],
        minimum: 1,
        maximum: RATE_LIMIT_MAX,
        description:
          'Requests a second at most to the endpoint, evenly spaced; null for no limit. ' +
          'null in a PATCH removes it.',
      },
      metadata: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description:
          'Your own labels (your ids, a team), kept as set and returned: at most 50 keys of ' +
          'up to 40 characters, values of up to 500, no control characters. Not for secrets. ' +
          'A PATCH replaces the whole map; null or {} clears it.',
      },
      version: { type: 'integer', description: 'Also the ETag; send it as If-Match' },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
    example: WEBHOOK_EXAMPLE,
  },
  WebhookWithSecret: {
    allOf: [
      ref('Webhook'),
      {
        type: 'object',
        properties: {
          secret: { type: 'string', description: 'Shown once, never again' },
          previous_secret_expires_at: { type: 'string', format: 'date-time' },
        },
      },
    ],
    example: { ...WEBHOOK_EXAMPLE, secret: SECRET_EXAMPLE },
  },
  WebhookPage: page(ref('Webhook'), { data: [WEBHOOK_EXAMPLE], next_cursor: null }),
  DeliveryAttempt: {
    type: 'object',
    properties: {
      attempt_id: { type: 'string' },
      delivery_id: { type: 'string', description: 'The webhook-id header receivers get' },
      event_id: { type: 'string' },
      event_type: { type: 'string' },
      attempt: { type: 'integer' },
      status: { enum: ['succeeded', 'failed', 'short_circuited', 'skipped'] },
      http_status: { type: ['integer', 'null'] },
      duration_ms: { type: 'integer' },
      error: { type: ['string', 'null'] },
      response_body: {
        type: ['string', 'null'],
        description:
          'The start of what the endpoint answered (its first 1,024 bytes, as text), for an attempt that failed with a status; null otherwise',
      },
      next_retry_at: { type: ['string', 'null'], format: 'date-time' },
      attempted_at: { type: 'string', format: 'date-time' },
    },
  },
  WebhookChange: {
    type: 'object',
    properties: {
      version: { type: 'integer', description: 'The version the change made' },
      type: {
        type: 'string',
        enum: [
          'created',
          'updated',
          'secret_rotated',
          'secrets_reencrypted',
          'status_changed',
          'deleted',
        ],
      },
      occurred_at: { type: 'string', format: 'date-time' },
      actor: {
        description:
          'Who made it: an API key (by id), the operator, or hookpost itself (paused for failures, disabled for a 410); null before actors were recorded',
        oneOf: [
          {
            type: 'object',
            properties: { kind: { const: 'api_key' }, id: { type: 'string' } },
            required: ['kind', 'id'],
          },
          {
            type: 'object',
            properties: { kind: { enum: ['operator', 'hookpost'] } },
            required: ['kind'],
          },
          { type: 'null' },
        ],
      },
      changes: {
        type: 'object',
        description:
          "What the change set, named as the webhook's fields; custom headers by name only (header_names, null if they can no longer be decrypted); never a secret",
      },
    },
  },
  WebhookChangePage: page(ref('WebhookChange'), {
    data: [
      {
        version: 3,
        type: 'status_changed',
        occurred_at: '2026-11-22T12:00:00.000Z',
        actor: { kind: 'hookpost' },
        changes: { status: 'failed', reason: 'auto_pause' },
      },
      {
        version: 2,
        type: 'updated',
        occurred_at: '2026-11-22T11:00:00.000Z',
        actor: { kind: 'api_key', id: 'key_01JC8Z0A2S4D6F8G0H2J4K6L8Z' },
        changes: { url: 'https://hooks.example.com/mail-v2', header_names: ['X-Team'] },
      },
    ],
    next_cursor: '2',
  }),
  WebhookStats: {
    type: 'object',
    properties: {
      since: { type: 'string', format: 'date-time' },
      until: { type: 'string', format: 'date-time' },
      attempts: {
        type: 'object',
        description: 'Attempts by outcome',
        properties: Object.fromEntries(
          ['succeeded', 'failed', 'short_circuited', 'skipped'].map((o) => [
            o,
            { type: 'integer' },
          ]),
        ),
      },
      success_rate: {
        type: ['number', 'null'],
        description:
          'Of the attempts sent (succeeded or failed), the share that succeeded; null if none',
      },
      duration_ms: {
        type: ['object', 'null'],
        description:
          'How long the endpoint took to answer, over the attempts it answered: exact below 64 ms, above that rounded up by at most 1/32',
        properties: {
          p50: { type: 'integer' },
          p95: { type: 'integer' },
          p99: { type: 'integer' },
        },
      },
      last_attempt_at: { type: ['string', 'null'], format: 'date-time' },
      failure_streak: {
        type: 'integer',
        description:
          'Failed attempts in a row as it stands now, whatever the window; AUTO_PAUSE_AFTER_FAILURES of them pause the webhook',
      },
    },
    example: {
      since: '2026-11-21T10:00:00.000Z',
      until: '2026-11-22T10:00:00.000Z',
      attempts: { succeeded: 9_412, failed: 37, short_circuited: 120, skipped: 0 },
      success_rate: 0.9961,
      duration_ms: { p50: 84, p95: 310, p99: 1_250 },
      last_attempt_at: '2026-11-22T09:59:58.120Z',
      failure_streak: 0,
    },
  },
  DeliveryAttemptPage: page(ref('DeliveryAttempt'), {
    data: [
      {
        attempt_id: 'att_01JC8Z5B2N4M6K8J0H2G4F6D8S',
        delivery_id: 'del_01JDZ8Q3M5R2K7W9X4T6B1N0AS',
        event_id: 'evt_2f8c1a',
        event_type: 'message.delivered',
        attempt: 1,
        status: 'failed',
        http_status: 503,
        duration_ms: 84,
        error: 'HTTP 503',
        response_body: '{"error":"database unavailable"}',
        next_retry_at: '2026-11-22T10:01:00.000Z',
        attempted_at: '2026-11-22T10:00:00.000Z',
      },
    ],
    next_cursor: null,
  }),
  EventTypePage: page(
    {
      type: 'object',
      properties: {
        name: { enum: [...EVENT_TYPES] },
        description: { type: 'string' },
        aliases: { type: 'array', items: { type: 'string' } },
        schema: { type: 'object', description: 'JSON Schema of the webhook body' },
      },
    },
    {
      data: [
        {
          name: 'message.delivered',
          description: 'The receiving server accepted the message',
          aliases: ['api_mail_log_delivered', 'MessageSent', 'delivered'],
          schema: { type: 'object' },
        },
      ],
      next_cursor: 'message.delivered',
    },
  ),
  MessageEventPage: page(
    {
      type: 'object',
      properties: {
        id: { type: 'string' },
        type: { type: 'string' },
        timestamp: { type: 'string', format: 'date-time' },
        data: { type: 'object' },
      },
    },
    {
      data: [
        {
          id: 'evt_2f8c1a',
          type: 'message.delivered',
          timestamp: '2026-11-22T10:00:00.000Z',
          data: { message_id: '<a1@news.example>', to: 'ann@example.org' },
        },
      ],
      next_cursor: null,
    },
  ),
  Organization: {
    type: 'object',
    properties: {
      id: { type: 'string', pattern: '^org_' },
      name: { type: 'string' },
      domains: { type: 'array', items: { type: 'string' } },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
    example: ORGANIZATION_EXAMPLE,
  },
  ApiKey: {
    type: 'object',
    properties: {
      id: { type: 'string', pattern: '^key_' },
      organization_id: { type: 'string' },
      name: { type: ['string', 'null'], description: "The operator's label for the key" },
      key_prefix: { type: 'string', description: "The key's first 8 characters" },
      scope: { type: 'object' },
      created_at: { type: 'string', format: 'date-time' },
      last_used_at: {
        type: ['string', 'null'],
        format: 'date-time',
        description: 'The last call made with it, to the minute',
      },
      expires_at: {
        type: ['string', 'null'],
        format: 'date-time',
        description: 'When it stops working by itself (401 api_key_expired); null: when revoked',
      },
      revoked_at: { type: ['string', 'null'], format: 'date-time' },
    },
    example: API_KEY_EXAMPLE,
  },
  ApiKeyWithKey: {
    allOf: [
      ref('ApiKey'),
      {
        type: 'object',
        properties: { key: { type: 'string', description: 'Shown once; only its hash is stored' } },
      },
    ],
    example: { ...API_KEY_EXAMPLE, key: 'hpk_…', last_used_at: null },
  },
  OrganizationPage: page(ref('Organization'), { data: [ORGANIZATION_EXAMPLE], next_cursor: null }),
  ApiKeyPage: page(ref('ApiKey'), { data: [API_KEY_EXAMPLE], next_cursor: null }),
};

function page(item: Json, example: Json): Json {
  return {
    type: 'object',
    properties: {
      data: { type: 'array', items: item },
      next_cursor: { type: ['string', 'null'], description: 'Pass as ?cursor= for the next page' },
    },
    example,
  };
}

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: ERROR_TEXT[status] ?? 'error',
        ...(status === 429
          ? { headers: { 'Retry-After': RETRY_AFTER, ...RATE_LIMIT_HEADERS } }
          : {}),
        content: { 'application/json': { schema: ref('Error') } },
      },
    ]),
  );
const integerHeader = (description: string) => ({ description, schema: { type: 'integer' } });
const RETRY_AFTER = integerHeader('Seconds to wait before trying again');
/** Sent with every answer to an API key (IETF draft RateLimit header fields). */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': integerHeader('Calls the organisation may make at once (the burst)'),
  'RateLimit-Remaining': integerHeader('Calls it may make now'),
  'RateLimit-Reset': integerHeader('Seconds until it may make the full burst again'),
};
/** A sending domain belongs to one organisation at a time. */
const domainTaken = {
  '409': {
    description: 'A domain is registered to another organisation (domain_taken)',
    content: { 'application/json': { schema: ref('Error') } },
  },
};
const ERROR_TEXT: Record<number, string> = {
  400: 'Malformed body (not JSON, not an object), or an Idempotency-Key that is not one (invalid_idempotency_key)',
  401: 'Missing or invalid credential',
  403: 'Outside the API key scope',
  404: 'No such resource, or another organisation’s',
  409: 'Conflicting change, the webhook is not active, or a request with the same Idempotency-Key still running (idempotency_key_in_use)',
  412: 'If-Match is not the current version',
  413: 'Body or replay window too large',
  415: 'A body sent as anything but application/json',
  422: 'A field is invalid (details name each one), or the Idempotency-Key was sent with another request (idempotency_key_reused)',
  429: 'Past a per-organisation rate limit (rate_limited); the message names it, Retry-After says when to try again',
  503: 'Database or Kafka unavailable; retry after the seconds in the Retry-After header',
};

const ok = (status: number, schema: Json, description: string) => ({
  [String(status)]: { description, content: { 'application/json': { schema } } },
});
/** A body whose fields are all optional may be left out (`POST .../test` sends the default). */
const body = (schema: z.ZodType, example: Json) => {
  const json = request(schema) as { required?: string[] };
  return {
    required: (json.required?.length ?? 0) > 0,
    content: { 'application/json': { schema: json, example } },
  };
};
const query = (schema: z.ZodType) => {
  const json = request(schema) as { properties?: Record<string, Json> };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    schema,
  }));
};
const pathParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
});
const ID = pathParam('id', 'The webhook id (wh_...)');
const IF_MATCH = {
  name: 'If-Match',
  in: 'header',
  required: false,
  schema: { type: 'string' },
  description: 'The version from the ETag; the change applies only at that version',
};
const customer = (operation: Json): Json => ({
  security: [{ apiKey: [] }],
  tags: ['webhooks'],
  ...operation,
  responses: {
    ...(operation.responses as Json),
    ...errors(401, 404, 429, 503, ...(operation.requestBody ? [415] : [])),
  },
});
const IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  description:
    'Any unique string (a UUID): the same request sent again with it within 24 hours answers as the first did, with Idempotent-Replayed: true, and does nothing twice. With another request it answers 422 idempotency_key_reused; while the first still runs, 409 idempotency_key_in_use.',
};
/** The POSTs create or send: each takes an Idempotency-Key (ADR 0020). */
const customerPost = (operation: Json): Json =>
  customer({
    ...operation,
    parameters: [...((operation.parameters as Json[] | undefined) ?? []), IDEMPOTENCY_KEY],
    responses: { ...errors(400, 409, 422), ...(operation.responses as Json) },
  });
const operator = (operation: Json): Json => ({
  security: [{ adminToken: [] }],
  tags: ['operators'],
  ...operation,
  responses: {
    ...(operation.responses as Json),
    ...errors(401, 422, 503, ...(operation.requestBody ? [415] : [])),
  },
});

export function openApiDocument(): Json {
  const webhook = ref('Webhook');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hookpost API',
      version: '1',
      description:
        'Webhook subscriptions for an email platform. Every error has the shape of `Error`. ' +
        'Lists use cursor pagination: `?limit&cursor` gives `{data, next_cursor}`. ' +
        'Calls with an API key are rate limited per organisation: past a limit they answer 429 ' +
        'rate_limited with Retry-After, and every answer carries RateLimit-Limit, ' +
        'RateLimit-Remaining and RateLimit-Reset. A POST sent with an Idempotency-Key is done once: ' +
        'sent again with the key within 24 hours, it gets the first answer.',
    },
    components: {
      schemas,
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An organisation API key' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator ADMIN_TOKEN' },
      },
    },
    paths: {
      '/v1/organizations': {
        post: operator({
          summary: 'Create an organisation',
          requestBody: body(createOrganizationSchema, {
            name: 'Acme Mail',
            domains: ['acme.example'],
          }),
          responses: { ...ok(201, ref('Organization'), 'Created'), ...domainTaken },
        }),
        get: operator({
          summary: 'List organisations, or find the one a sending domain is registered to',
          parameters: query(listOrganizationsQuery),
          responses: ok(200, ref('OrganizationPage'), 'A page'),
        }),
      },
      '/v1/organizations/{id}': {
        get: operator({
          summary: 'One organisation',
          parameters: [pathParam('id', 'The organisation id (org_...)')],
          responses: { ...ok(200, ref('Organization'), 'The organisation'), ...errors(404) },
        }),
        delete: operator({
          summary:
            'Delete an organisation: revokes its keys, deletes its subscriptions and releases its domains; answers once no delivery to them can start',
          description:
            'Its stored events (what the messages routes, retries and replays read) are erased within 10 minutes, in the background; its delivery log (ids, types, outcomes) ages out with DELIVERY_LOG_RETENTION. It cannot be undone.',
          parameters: [pathParam('id', 'The organisation id (org_...)')],
          responses: { '204': { description: 'Deleted' }, ...errors(404, 409) },
        }),
        patch: operator({
          summary: 'Rename an organisation or change its sending domains',
          parameters: [pathParam('id', 'The organisation id (org_...)')],
          requestBody: body(updateOrganizationSchema, { domains: ['acme.example'] }),
          responses: { ...ok(200, ref('Organization'), 'Updated'), ...errors(404), ...domainTaken },
        }),
      },
      '/v1/organizations/{id}/api-keys': {
        get: operator({
          summary: "List an organisation's API keys (never the keys themselves)",
          parameters: [
            pathParam('id', 'The organisation id (org_...)'),
            ...query(listApiKeysQuery),
          ],
          responses: { ...ok(200, ref('ApiKeyPage'), 'A page'), ...errors(404) },
        }),
        post: operator({
          summary: 'Create an API key, optionally named and scoped to domains or mailboxes',
          parameters: [pathParam('id', 'The organisation id (org_...)')],
          requestBody: body(createApiKeySchema, {
            name: 'Production mail app',
            scope: { domains: ['acme.example'] },
          }),
          responses: {
            ...ok(201, ref('ApiKeyWithKey'), 'Created; the key is shown once'),
            ...errors(404),
          },
        }),
      },
      '/v1/organizations/{id}/api-keys/{keyId}': {
        delete: operator({
          summary: 'Revoke an API key',
          parameters: [
            pathParam('id', 'The organisation id (org_...)'),
            pathParam('keyId', 'The key id (key_...)'),
          ],
          responses: { '204': { description: 'Revoked' }, ...errors(404) },
        }),
      },
      '/v1/webhooks': {
        post: customerPost({
          summary: 'Create a webhook subscription; the secret is returned this once',
          requestBody: body(createWebhookSchema, {
            url: 'https://hooks.example.com/mail',
            events: ['message.delivered', 'bounced'],
          }),
          responses: {
            ...ok(201, ref('WebhookWithSecret'), 'Created'),
            ...errors(400, 403, 422),
          },
        }),
        get: customer({
          summary: 'List webhook subscriptions',
          parameters: query(listWebhooksQuery),
          responses: { ...ok(200, ref('WebhookPage'), 'A page'), ...errors(422) },
        }),
      },
      '/v1/webhooks/{id}': {
        get: customer({
          summary: 'One webhook subscription, with its version as ETag',
          parameters: [ID],
          responses: ok(200, webhook, 'The webhook'),
        }),
        patch: customer({
          summary: 'Change some fields',
          parameters: [ID, IF_MATCH],
          requestBody: body(patchWebhookSchema, { events: ['message.*'] }),
          responses: { ...ok(200, webhook, 'Updated'), ...errors(400, 403, 409, 412, 422) },
        }),
        put: customer({
          summary: 'Change some fields, as PATCH does (the update request of seed 002)',
          parameters: [ID, IF_MATCH],
          requestBody: body(patchWebhookSchema, {
            events: ['delivered', 'bounced', 'complained', 'opened'],
          }),
          responses: { ...ok(200, webhook, 'Updated'), ...errors(400, 403, 409, 412, 422) },
        }),
        delete: customer({
          summary: 'Delete',
          description:
            'Answered once no deliverer can start a delivery for the subscription any more: every deliverer has acknowledged the deletion (normally within a few hundred milliseconds), or one that has not can no longer act on what it knew (5.5 s at most). A request already on its way may still complete. While Kafka is away the answer comes after 5 s without that: nothing is delivered while Kafka is away, and the deletion takes effect as soon as Kafka has it.',
          parameters: [ID, IF_MATCH],
          responses: { '204': { description: 'Deleted' }, ...errors(409, 412) },
        }),
      },
      '/v1/webhooks/{id}/pause': {
        post: customerPost({
          summary: 'Pause deliveries',
          parameters: [ID],
          responses: ok(200, webhook, 'Paused'),
        }),
      },
      '/v1/webhooks/{id}/resume': {
        post: customerPost({
          summary: 'Resume deliveries; clears a failed status',
          parameters: [ID],
          responses: ok(200, webhook, 'Active'),
        }),
      },
      '/v1/webhooks/{id}/rotate-secret': {
        post: customerPost({
          summary: 'New secret; the old one still signs for SECRET_ROTATION_OVERLAP',
          parameters: [ID],
          requestBody: body(rotateSchema, {}),
          responses: { ...ok(200, ref('WebhookWithSecret'), 'Rotated'), ...errors(422) },
        }),
      },
      '/v1/webhooks/{id}/test': {
        post: customerPost({
          summary: 'Send a test event of a type through the pipeline to this webhook',
          description:
            'Counts against the limit of test events and replays (API_SEND_RATE_LIMIT a minute per organisation) as well as the limit of calls; over either, 429 rate_limited.',
          parameters: [ID],
          requestBody: body(testSchema, { type: 'message.bounced' }),
          responses: {
            '202': {
              description: 'Sent to the pipeline',
              content: {
                'application/json': {
                  example: { event_id: 'evt_test_01JC8Z…', type: 'message.bounced' },
                },
              },
            },
            ...errors(409, 422),
          },
        }),
      },
      '/v1/webhooks/{id}/logs': {
        get: customer({
          summary: 'Delivery attempts, newest first',
          description:
            'Narrowed by any of: status (outcomes), event_type (types, aliases or wildcards such as message.*, as a subscription names them), each a list given as repeated parameters or comma-separated; delivery_id or event_id (every attempt of one delivery); since (inclusive) and until (exclusive), ISO-8601 attempt times. next_cursor pages through what matches, with the same filters.',
          parameters: [ID, ...query(logsQuery)],
          responses: { ...ok(200, ref('DeliveryAttemptPage'), 'A page'), ...errors(422) },
        }),
      },
      '/v1/webhooks/{id}/stats': {
        get: customer({
          summary: "How the webhook's deliveries went: attempts by outcome, answer times",
          description: `Over attempt times since (inclusive) and until (exclusive), ISO-8601: by default the 24 hours before until, which defaults to now; at most ${STATS_WINDOW_MAX_DAYS} days.`,
          parameters: [ID, ...query(statsQuery)],
          responses: { ...ok(200, ref('WebhookStats'), 'The stats'), ...errors(422) },
        }),
      },
      '/v1/webhooks/{id}/history': {
        get: customer({
          summary: 'Every change made to the webhook, newest first, and who made it',
          parameters: [ID, ...query(historyQuery)],
          responses: { ...ok(200, ref('WebhookChangePage'), 'A page'), ...errors(422) },
        }),
      },
      '/v1/webhooks/{id}/deliveries/{deliveryId}/retry': {
        post: customerPost({
          summary: 'Redeliver one delivery, as its next attempt (same webhook-id)',
          parameters: [ID, pathParam('deliveryId', 'The delivery id (del_...)')],
          responses: {
            '202': {
              description: 'Queued',
              content: {
                'application/json': {
                  example: { delivery_id: 'del_01JDZ8Q3M5R2K7W9X4T6B1N0AS', attempt: 4 },
                },
              },
            },
            '409': {
              description:
                'The webhook is not active (webhook_not_active), or a retry of the delivery is pending: an automatic one, or one by hand whose attempt is not in the log yet (retry_pending)',
              content: { 'application/json': { schema: ref('Error') } },
            },
            '410': {
              description:
                'The event of the delivery is no longer kept: past DELIVERY_LOG_RETENTION, or erased (event_expired)',
              content: { 'application/json': { schema: ref('Error') } },
            },
          },
        }),
      },
      '/v1/webhooks/{id}/replay': {
        post: customerPost({
          summary: 'Redeliver every stored event of a window that the webhook matches',
          description:
            'In the order the events occurred, at most 100,000 a call, each delivery as its next attempt; one whose automatic retry is pending is left to that retry. With failed_only: true, only the deliveries attempted that never succeeded (failed, put off by an open breaker, or skipped while paused): what an outage left undelivered. A larger window answers 413 replay_too_large once that many are queued, naming the time to replay the rest from (`since`). One replay of a webhook at a time: another while it queues answers 409 replay_in_progress. Counts against the limit of test events and replays (API_SEND_RATE_LIMIT a minute per organisation); over it, 429 rate_limited.',
          parameters: [ID],
          requestBody: body(replaySchema, {
            since: '2026-11-22T00:00:00Z',
            until: '2026-11-22T06:00:00Z',
          }),
          responses: {
            '202': {
              description: 'Queued',
              content: {
                'application/json': {
                  example: {
                    queued: 42,
                    since: '2026-11-22T00:00:00.000Z',
                    until: '2026-11-22T06:00:00.000Z',
                  },
                },
              },
            },
            ...errors(409, 413, 422),
          },
        }),
      },
      '/v1/event-types': {
        get: customer({
          summary: 'The event catalogue, with the JSON Schema of each type',
          tags: ['events'],
          parameters: query(eventTypesQuery),
          responses: { ...ok(200, ref('EventTypePage'), 'A page'), ...errors(422) },
        }),
      },
      '/v1/messages/{messageId}/events': {
        get: customer({
          summary: 'Every event of one email, oldest first',
          tags: ['events'],
          parameters: [
            pathParam('messageId', 'The Message-ID of the email'),
            ...query(messageEventsQuery),
          ],
          responses: { ...ok(200, ref('MessageEventPage'), 'A page'), ...errors(422) },
        }),
        delete: customer({
          summary: 'Erase the stored events of one email, for a recipient to be forgotten',
          description:
            'Erases what GET lists to this key: the events Hookpost keeps of the email for listing, retrying and replaying (its delivery log keeps ids, types and outcomes, no event content). A retry or replay of a delivery of an erased event then answers 410 event_expired. Copies still on their way are not reached: deliveries in flight and pending retries carry their event and are still sent, and an event of the email that arrives after the call is stored as usual. 404 when the key sees no event of the email, as GET.',
          tags: ['events'],
          parameters: [pathParam('messageId', 'The Message-ID of the email')],
          responses: {
            '200': {
              description: 'Erased',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['erased'],
                    properties: { erased: { type: 'integer', description: 'Events erased' } },
                  },
                  example: { erased: 3 },
                },
              },
            },
          },
        }),
      },
    },
  };
}
