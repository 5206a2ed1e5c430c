import { isId, WEBHOOKS_PROTO_LOADER_OPTIONS, WEBHOOKS_PROTO_PATH } from '@hookpost/contracts';
import { CONFIG, LOGGER, Readiness, type Logger } from '@hookpost/platform';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { authenticateApiKey, type Principal } from '../auth/guards.js';
import type { ApiConfig } from '../config.js';
import { DeliveryLog } from '../deliveries/delivery-log.js';
import { RedeliveryService, replayWindow } from '../deliveries/redelivery.service.js';
import { eventTypesQuery, listEventTypes } from '../event-types/event-types.controller.js';
import { ApiError } from '../http/api-error.js';
import { MAX_REQUEST_BYTES } from '../http/json-body.js';
import { knownError } from '../http/error.filter.js';
import { parseWith } from '../http/zod.pipe.js';
import {
  IdempotencyKeys,
  parseIdempotencyKey,
  requestFingerprint,
} from '../idempotency/idempotency-keys.js';
import { RateLimitedError, RateLimits } from '../rate-limits/rate-limits.js';
import { messageEventsQuery, MessagesService } from '../messages/messages.service.js';
import {
  createWebhookSchema,
  listWebhooksQuery,
  logsQuery,
  patchWebhookSchema,
  replaySchema,
  rotateSchema,
  statsQuery,
  historyQuery,
  testSchema,
} from '../webhooks/webhooks.schemas.js';
import { WebhooksService, type WebhookView } from '../webhooks/webhooks.service.js';

/** Marks a request whose bytes are not a message of the method's request type. */
const UNDECODABLE = Symbol('undecodable');

type Request = Record<string, unknown> & { [UNDECODABLE]?: true };
type Handler = (principal: Principal, request: Request) => Promise<unknown>;

/** REST statuses, as gRPC status codes. */
const GRPC_CODES: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  404: grpc.status.NOT_FOUND,
  409: grpc.status.ABORTED,
  410: grpc.status.NOT_FOUND,
  412: grpc.status.FAILED_PRECONDITION,
  413: grpc.status.RESOURCE_EXHAUSTED,
  422: grpc.status.INVALID_ARGUMENT,
  429: grpc.status.RESOURCE_EXHAUSTED,
  503: grpc.status.UNAVAILABLE,
};

/**
 * The methods that create or send, as REST's POSTs: an `idempotency-key` in their metadata
 * makes a repeat answer as the first call did (ADR 0020). Others ignore it.
 */
const IDEMPOTENT_METHODS = new Set([
  'CreateWebhook',
  'PauseWebhook',
  'ResumeWebhook',
  'RotateSecret',
  'SendTestEvent',
  'RetryDelivery',
  'Replay',
]);

/** Trailing metadata of an answer given again for its idempotency key. */
function replayedTrailer(): grpc.Metadata {
  const trailer = new grpc.Metadata();
  trailer.set('idempotent-replayed', 'true');
  return trailer;
}

/**
 * REST 409s that are not a conflict to retry (ABORTED) but a state to change first: a
 * webhook to resume, a retry to let happen.
 */
const PRECONDITION_CODES = new Set(['webhook_not_active', 'retry_pending']);

/**
 * `hookpost.v1.Webhooks` on GRPC_PORT, with server reflection: the REST operations over
 * gRPC. Requests are reshaped into the REST bodies and go through the same schemas and
 * services, so validation, tenancy and errors are the same; the API key comes in the
 * `authorization` metadata. This file is only the adapter.
 */
@Injectable()
export class GrpcServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private server: grpc.Server | undefined;
  private bound = false;

  constructor(
    private readonly webhooks: WebhooksService,
    private readonly redelivery: RedeliveryService,
    private readonly deliveryLog: DeliveryLog,
    private readonly messages: MessagesService,
    private readonly limits: RateLimits,
    private readonly idempotency: IdempotencyKeys,
    private readonly dataSource: DataSource,
    @Inject(CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: Readiness,
  ) {
    readiness.register('grpc server', () => this.bound);
  }

  async onApplicationBootstrap(): Promise<void> {
    const definition = protoLoader.loadSync(WEBHOOKS_PROTO_PATH, WEBHOOKS_PROTO_LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      hookpost: { v1: { Webhooks: { service: grpc.ServiceDefinition } } };
    };
    // Requests as large as the REST API takes (a larger one gets RESOURCE_EXHAUSTED).
    const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
    server.addService(decodingLeniently(loaded.hookpost.v1.Webhooks.service), this.handlers());
    new ReflectionService(definition).addToServer(server);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `0.0.0.0:${this.config.GRPC_PORT}`,
        grpc.ServerCredentials.createInsecure(),
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    this.server = server;
    this.bound = true;
    this.logger.info({ port: this.config.GRPC_PORT }, 'gRPC hookpost.v1.Webhooks listening');
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.bound = false;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 3_000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private handlers(): grpc.UntypedServiceImplementation {
    /**
     * A field every call of the method needs: absent (proto3's empty string) is a bad
     * request naming it; present but no id of ours is one that does not exist, as REST's
     * path says.
     */
    const required = (request: Request, field: string): string => {
      const value = String(request[field] ?? '');
      if (value === '')
        throw ApiError.validation([{ field, code: 'required', message: `${field} is required` }]);
      return value;
    };
    /** `expected_version`, as If-Match is over REST: a version, or absent. */
    const expectedVersionOf = (request: Request): number | undefined => {
      const version = request.expected_version as number | undefined;
      if (version === undefined || version === null) return undefined;
      if (!Number.isInteger(version) || version < 1)
        throw ApiError.validation([
          {
            field: 'expected_version',
            code: 'invalid_version',
            message: 'expected_version must be the version from a previous answer, e.g. 3',
          },
        ]);
      return version;
    };
    const webhookIdOf = (request: Request) => {
      const id = required(request, 'id');
      if (!isId('webhook', id)) throw ApiError.notFound('webhook');
      return id;
    };
    const handlers: Record<string, Handler> = {
      CreateWebhook: async (principal, r) => {
        const input = parseWith(createWebhookSchema, {
          url: r.url,
          events: r.events,
          description: r.description,
          headers: nonEmpty(r.headers),
          scope: r.scope,
          format: r.format,
          secret: r.secret,
          // proto3 has no null: 0 is no limit, as null is over REST.
          rate_limit: r.rate_limit === 0 ? null : r.rate_limit,
          metadata: nonEmpty(r.metadata),
        });
        const { secret, ...view } = await this.webhooks.create(principal, input);
        return { webhook: toMessage(view), secret };
      },
      GetWebhook: async (principal, r) =>
        toMessage(await this.webhooks.get(principal, webhookIdOf(r))),
      ListWebhooks: async (principal, r) => {
        const query = parseWith(listWebhooksQuery, {
          limit: r.limit || undefined,
          cursor: r.cursor,
          status: nonEmptyList(r.status),
        });
        const page = await this.webhooks.list(principal, query.limit, query.cursor, query.status);
        return { data: page.data.map(toMessage), next_cursor: page.next_cursor ?? undefined };
      },
      UpdateWebhook: async (principal, r) => {
        const id = webhookIdOf(r);
        // proto3 cannot tell an empty list from none: `set_events` says the list is meant.
        if (!r.set_events && Array.isArray(r.events) && r.events.length > 0)
          throw ApiError.validation([
            {
              field: 'set_events',
              code: 'required',
              message: 'set_events must be true to replace the event filter with events',
            },
          ]);
        const input = parseWith(patchWebhookSchema, {
          url: r.url,
          events: r.set_events ? r.events : undefined,
          // proto3 has no null: an empty description clears it, as null does over REST.
          description: r.description === '' ? null : r.description,
          headers: r.headers ? (r.headers as { values: unknown }).values : undefined,
          scope: r.scope,
          format: r.format,
          rate_limit: r.rate_limit === 0 ? null : r.rate_limit,
          metadata: r.metadata ? (r.metadata as { values: unknown }).values : undefined,
        });
        const view = await this.webhooks.update(principal, id, input, expectedVersionOf(r));
        return toMessage(view);
      },
      DeleteWebhook: async (principal, r) => {
        await this.webhooks.remove(principal, webhookIdOf(r), expectedVersionOf(r));
        return {};
      },
      PauseWebhook: async (principal, r) =>
        toMessage(await this.webhooks.setActive(principal, webhookIdOf(r), false)),
      ResumeWebhook: async (principal, r) =>
        toMessage(await this.webhooks.setActive(principal, webhookIdOf(r), true)),
      RotateSecret: async (principal, r) => {
        const id = webhookIdOf(r);
        const body = parseWith(rotateSchema, { secret: r.secret });
        const { secret, previous_secret_expires_at, ...view } = await this.webhooks.rotateSecret(
          principal,
          id,
          body.secret,
        );
        return { webhook: toMessage(view), secret, previous_secret_expires_at };
      },
      SendTestEvent: async (principal, r) => {
        const id = webhookIdOf(r);
        const body = parseWith(testSchema, { type: r.type });
        return this.redelivery.test(principal, id, body.type);
      },
      ListDeliveryAttempts: async (principal, r) => {
        const webhook = await this.webhooks.get(principal, webhookIdOf(r));
        // proto3's empty repeated fields are no filter, as absent query parameters are.
        const query = parseWith(logsQuery, {
          limit: r.limit || undefined,
          cursor: r.cursor,
          status: nonEmptyList(r.status),
          event_type: nonEmptyList(r.event_type),
          delivery_id: r.delivery_id,
          event_id: r.event_id,
          since: r.since,
          until: r.until,
        });
        const page = await this.deliveryLog.page(webhook.id, query.limit, query);
        return {
          data: page.data.map((a) => ({
            ...a,
            http_status: a.http_status ?? undefined,
            error: a.error ?? undefined,
            response_body: a.response_body ?? undefined,
            next_retry_at: a.next_retry_at ?? undefined,
          })),
          next_cursor: page.next_cursor ?? undefined,
        };
      },
      GetWebhookStats: async (principal, r) => {
        const webhook = await this.webhooks.get(principal, webhookIdOf(r));
        const query = parseWith(statsQuery, { since: r.since, until: r.until });
        const stats = await this.deliveryLog.stats(webhook.id, query.since, query.until);
        return {
          ...stats,
          success_rate: stats.success_rate ?? undefined,
          duration_ms: stats.duration_ms ?? undefined,
          last_attempt_at: stats.last_attempt_at ?? undefined,
        };
      },
      ListWebhookHistory: async (principal, r) => {
        const id = webhookIdOf(r);
        const query = parseWith(historyQuery, { limit: r.limit || undefined, cursor: r.cursor });
        const page = await this.webhooks.history(principal, id, query.limit, query.cursor);
        return {
          data: page.data.map(({ actor, changes, ...change }) => ({
            ...change,
            actor: actor ?? undefined,
            changes_json: JSON.stringify(changes),
          })),
          next_cursor: page.next_cursor ?? undefined,
        };
      },
      RetryDelivery: async (principal, r) => {
        const id = webhookIdOf(r);
        const deliveryId = required(r, 'delivery_id');
        if (!isId('delivery', deliveryId)) throw ApiError.notFound('delivery');
        return this.redelivery.retry(principal, id, deliveryId);
      },
      Replay: async (principal, r) => {
        const id = webhookIdOf(r);
        const body = parseWith(replaySchema, {
          since: r.since,
          until: r.until,
          failed_only: r.failed_only,
        });
        return this.redelivery.replay(principal, id, replayWindow(body));
      },
      ListEventTypes: (_principal, r) => {
        const page = listEventTypes(
          parseWith(eventTypesQuery, { limit: r.limit || undefined, cursor: r.cursor }),
        );
        return Promise.resolve({
          data: page.data.map(({ schema, ...type }) => ({
            ...type,
            schema_json: JSON.stringify(schema),
          })),
          next_cursor: page.next_cursor ?? undefined,
        });
      },
      ListMessageEvents: async (principal, r) => {
        const query = parseWith(messageEventsQuery, {
          limit: r.limit || undefined,
          cursor: r.cursor,
        });
        const page = await this.messages.events(principal, required(r, 'message_id'), query);
        return {
          data: page.data.map(({ data, ...event }) => ({
            ...event,
            data_json: JSON.stringify(data),
          })),
          next_cursor: page.next_cursor ?? undefined,
        };
      },
      DeleteMessageEvents: async (principal, r) => ({
        erased: await this.messages.erase(principal, required(r, 'message_id')),
      }),
    };
    return Object.fromEntries(
      Object.entries(handlers).map(([name, handler]) => [name, this.unary(name, handler)]),
    );
  }

  /**
   * Authenticates, counts the call against API_RATE_LIMIT (the organisation's one bucket,
   * shared with REST), runs, and answers with the result or the error's gRPC status.
   */
  private unary(name: string, handler: Handler): grpc.handleUnaryCall<Request, unknown> {
    return (call, callback) => {
      if (call.request[UNDECODABLE]) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `the request is not a valid ${name} request message (protobuf)`,
        });
        return;
      }
      const authorization = call.metadata.get('authorization')[0];
      const idempotencyKey = call.metadata.get('idempotency-key')[0]?.toString();
      authenticateApiKey(this.dataSource, authorization?.toString())
        .then(async (principal) => {
          this.limits.request(principal.organizationId);
          const key = IDEMPOTENT_METHODS.has(name)
            ? parseIdempotencyKey(idempotencyKey)
            : undefined;
          if (key === undefined)
            return { answer: await handler(principal, call.request), replayed: false };
          return this.idempotency
            .run(
              principal.organizationId,
              key,
              requestFingerprint(`grpc ${name}`, call.request),
              async () => ({ message: await handler(principal, call.request) }),
            )
            .then(({ answer, replayed }) => ({ answer: answer.message, replayed }));
        })
        .then(
          ({ answer, replayed }) =>
            callback(null, answer, replayed ? replayedTrailer() : undefined),
          (error: unknown) => callback(this.toStatus(name, error)),
        );
    };
  }

  private toStatus(method: string, error: unknown): Partial<grpc.StatusObject> {
    const known = knownError(error);
    if (!known) {
      this.logger.error({ err: error, method }, 'unhandled gRPC error');
      return { code: grpc.status.INTERNAL, details: 'internal error' };
    }
    const [status, body] = known;
    const precondition = PRECONDITION_CODES.has(body.error.code);
    const details = body.error.details as Array<{ field: string; message: string }>;
    const metadata = new grpc.Metadata();
    metadata.set('error-code', body.error.code);
    if ((error as { replayed?: boolean }).replayed) metadata.set('idempotent-replayed', 'true');
    // As REST's Retry-After: whole seconds.
    if (error instanceof RateLimitedError)
      metadata.set('retry-after', String(error.decision.retryAfterSeconds));
    return {
      code: precondition
        ? grpc.status.FAILED_PRECONDITION
        : (GRPC_CODES[status] ?? grpc.status.UNKNOWN),
      details: statusMessage(body.error.message, details),
      metadata,
    };
  }
}

/**
 * The service with request decoding that cannot throw: grpc-js answers a request it cannot
 * decode with INTERNAL, as if the server were at fault; the handler answers it instead.
 */
function decodingLeniently(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch {
            return { [UNDECODABLE]: true };
          }
        },
      },
    ]),
  );
}

/**
 * The status message travels in a trailer, and clients refuse trailers past 8 KB (gRPC
 * Java's default; C-core's soft limit): a long one is cut, after as many fields' details
 * as fit, so the caller still learns what was wrong.
 */
const MAX_STATUS_MESSAGE = 2_000;
const MAX_STATUS_HEADLINE = 200;

function statusMessage(message: string, details: Array<{ field: string; message: string }>) {
  // The headline (which names every bad field) gets a share; the reasons get the rest.
  const headline = details.length > 0 ? MAX_STATUS_HEADLINE : MAX_STATUS_MESSAGE;
  const text = message.length > headline ? `${message.slice(0, headline)}…` : message;
  if (details.length === 0) return text;
  const parts: string[] = [];
  let length = text.length;
  for (const [i, detail] of details.entries()) {
    const part = `${detail.field}: ${detail.message}`;
    if (length + part.length > MAX_STATUS_MESSAGE) {
      parts.push(`and ${details.length - i} more`);
      break;
    }
    parts.push(part);
    length += part.length + 2;
  }
  return `${text} (${parts.join('; ')})`;
}

function nonEmptyList(list: unknown): unknown[] | undefined {
  return Array.isArray(list) && list.length > 0 ? list : undefined;
}

function nonEmpty(map: unknown): Record<string, string> | undefined {
  return map && Object.keys(map).length > 0 ? (map as Record<string, string>) : undefined;
}

function toMessage(view: WebhookView) {
  const { active: _, description, rate_limit, ...rest } = view;
  return {
    ...rest,
    description: description ?? undefined,
    rate_limit: rate_limit ?? undefined,
  };
}
