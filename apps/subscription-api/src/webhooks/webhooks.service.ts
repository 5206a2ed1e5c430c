import {
  newId,
  subscriptionEventSchema,
  type PayloadFormat,
  type SubscriptionScope,
  type SubscriptionStatus,
} from '@hookpost/contracts';
import {
  boundTo,
  checkEndpointUrl,
  encryptSecret,
  generateSecret,
  headersNeedSealing,
  normalizeEventFilters,
  openHeaders,
  resolveAndCheck,
  sealHeaders,
  validateCustomHeaders,
  type EndpointPolicy,
  type Keyring,
  type Subscription,
  type UpdateCommand,
  keyCovers,
} from '@hookpost/domain';
import { CONFIG, hostResolver } from '@hookpost/platform';
import { Inject, Injectable } from '@nestjs/common';
import { isIP } from 'node:net';
import { DataSource } from 'typeorm';
import { actorOf, type Principal } from '../auth/guards.js';
import type { ApiConfig } from '../config.js';
import { DeliveryFence } from '../event-store/delivery-fence.js';
import { SubscriptionStore, type CommandOn } from '../event-store/subscription-store.js';
import { ApiError, type ErrorDetail } from '../http/api-error.js';
import { ENDPOINT_POLICY, SECRET_KEYRING } from '../security.js';
import { historyEntry, type HeaderNames } from './history.js';
import type { CreateWebhookInput, PatchWebhookInput } from './webhooks.schemas.js';

/**
 * A subscription as the API shows it to its organisation: never its secret (that is shown
 * once, at creation), its custom headers as they were set (decrypted here).
 */
export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  status: string;
  scope: SubscriptionScope;
  headers: Record<string, string>;
  format: string;
  description: string | null;
  /** Requests a second at most to the endpoint; null for no limit. */
  rate_limit: number | null;
  /** The customer's own labels, as set. */
  metadata: Record<string, string>;
  version: number;
  created_at: string;
  updated_at: string;
}

export function toView(subscription: Subscription, keyring: Keyring): WebhookView {
  return {
    id: subscription.id,
    url: subscription.url,
    events: subscription.events,
    active: subscription.status === 'active',
    status: subscription.status,
    scope: subscription.scope,
    headers: openHeaders(keyring, subscription.id, subscription.headers),
    format: subscription.format,
    description: subscription.description,
    rate_limit: subscription.rateLimit ?? null,
    metadata: subscription.metadata ?? {},
    version: subscription.version,
    created_at: subscription.createdAt,
    updated_at: subscription.updatedAt,
  };
}

interface EditableFields {
  url: string;
  events: string[];
  headers: Record<string, string>;
  scope: SubscriptionScope;
  format: PayloadFormat;
  description: string | null;
  rateLimit: number | null;
  metadata: Record<string, string>;
}

/**
 * How long a save waits for the URL's host to resolve. A name behind a dead name server
 * would otherwise hold the request for the resolver's own timeouts and retries (tens of
 * seconds with Kubernetes' search domains); it is refused as not resolving instead. The
 * lookups hold none of the threads the service's own connections resolve on
 * (`hostResolver`).
 */
const RESOLVE_TIMEOUT_MS = 5_000;

const resolveHost = hostResolver({ timeoutMs: RESOLVE_TIMEOUT_MS, systemConcurrency: 2 });

@Injectable()
export class WebhooksService {
  constructor(
    private readonly store: SubscriptionStore,
    private readonly fence: DeliveryFence,
    private readonly dataSource: DataSource,
    @Inject(SECRET_KEYRING) private readonly keyring: Keyring,
    @Inject(ENDPOINT_POLICY) private readonly policy: EndpointPolicy,
    @Inject(CONFIG) private readonly config: ApiConfig,
  ) {}

  async create(
    principal: Principal,
    input: CreateWebhookInput,
  ): Promise<WebhookView & { secret: string }> {
    const fields = await this.validate(
      {
        ...input,
        headers: input.headers ?? null,
        // A scoped key's subscriptions default to the key's own scope.
        scope: input.scope ?? {
          domains: principal.scope.domains ?? [],
          mailboxes: principal.scope.mailboxes ?? [],
        },
        description: input.description ?? null,
        rate_limit: input.rate_limit ?? null,
        metadata: input.metadata ?? {},
      },
      principal,
    );
    const id = newId('webhook');
    const secret = input.secret ?? generateSecret();
    const { state: subscription } = await this.store.execute(
      id,
      {
        type: 'create',
        subscriptionId: id,
        organizationId: principal.organizationId,
        ...(fields as EditableFields),
        headers: sealHeaders(this.keyring, id, (fields as EditableFields).headers),
        secret: this.encrypt(secret, id),
      },
      { organizationId: principal.organizationId, actor: actorOf(principal) },
    );
    return { ...toView(subscription, this.keyring), secret };
  }

  async get(principal: Principal, id: string): Promise<WebhookView> {
    return toView(await this.state(principal, id), this.keyring);
  }

  /** The subscription's current state, if the caller may see it; else 404. */
  async state(principal: Principal, id: string): Promise<Subscription> {
    const rows = (await this.dataSource.query(
      'SELECT state FROM subscriptions WHERE id = $1 AND organization_id = $2 AND NOT deleted',
      [id, principal.organizationId],
    )) as Array<{ state: Subscription }>;
    // Another organisation's subscription, or one outside a scoped key's reach, is
    // indistinguishable from a missing one.
    if (!rows[0] || !keyCovers(principal.scope, rows[0].state.scope)) {
      throw ApiError.notFound('webhook');
    }
    return rows[0].state;
  }

  /**
   * Newest first would shift under inserts; ids are time-ordered, so pages go by id. A
   * scoped key sees only what it covers: rows are read on until the page is full.
   */
  async list(
    principal: Principal,
    limit: number,
    cursor?: string,
    statuses?: readonly SubscriptionStatus[],
  ) {
    const page: WebhookView[] = [];
    let after = cursor ?? null;
    let more = true;
    while (page.length <= limit && more) {
      const rows = (await this.dataSource.query(
        `SELECT id, state FROM subscriptions
         WHERE organization_id = $1 AND NOT deleted AND ($2::text IS NULL OR id > $2)
           AND ($4::text[] IS NULL OR status = ANY($4::text[]))
         ORDER BY id LIMIT $3`,
        [principal.organizationId, after, limit + 1, statuses ?? null],
      )) as Array<{ id: string; state: Subscription }>;
      more = rows.length === limit + 1;
      for (const row of rows) {
        if (keyCovers(principal.scope, row.state.scope)) page.push(toView(row.state, this.keyring));
      }
      after = rows[rows.length - 1]?.id ?? after;
    }
    const data = page.slice(0, limit);
    return { data, next_cursor: page.length > limit ? data[data.length - 1]!.id : null };
  }

  async update(
    principal: Principal,
    id: string,
    input: PatchWebhookInput,
    expectedVersion?: number,
  ) {
    // A subscription the caller may not see answers 404 before its input is judged.
    await this.get(principal, id);
    const changes = await this.validate(input, principal);
    return this.run(
      principal,
      id,
      (state) => ({ type: 'update', changes: this.sealChanges(id, changes, state) }),
      expectedVersion,
    );
  }

  /** Answers once no deliverer can start a delivery for it any more (ADR 0017). */
  async remove(principal: Principal, id: string, expectedVersion?: number): Promise<void> {
    await this.run(principal, id, { type: 'delete' }, expectedVersion);
    await this.fence.afterChange(id);
  }

  /**
   * Every change made to the webhook, newest first, from its event store: what changed,
   * when, and who made it.
   */
  async history(principal: Principal, id: string, limit: number, before?: number) {
    await this.get(principal, id);
    const rows = (await this.dataSource.query(
      `SELECT event FROM subscription_events
       WHERE subscription_id = $1 AND ($2::int IS NULL OR version < $2)
       ORDER BY version DESC LIMIT $3`,
      [id, before ?? null, limit + 1],
    )) as Array<{ event: unknown }>;
    const headerNames: HeaderNames = (stored) => {
      try {
        return Object.keys(openHeaders(this.keyring, id, stored)).sort();
      } catch {
        return null;
      }
    };
    const data = rows
      .slice(0, limit)
      .map((row) => historyEntry(subscriptionEventSchema.parse(row.event), headerNames));
    return {
      data,
      next_cursor: rows.length > limit ? String(data[data.length - 1]!.version) : null,
    };
  }

  /** Resume also clears a `failed` status, and with it the failure streak that caused it. */
  setActive(principal: Principal, id: string, active: boolean): Promise<WebhookView> {
    return this.run(principal, id, { type: active ? 'resume' : 'pause' });
  }

  /** A new secret; the old one keeps signing for SECRET_ROTATION_OVERLAP. */
  async rotateSecret(principal: Principal, id: string, given?: string) {
    const secret = given ?? generateSecret();
    const expiresAt = new Date(Date.now() + this.config.SECRET_ROTATION_OVERLAP).toISOString();
    const view = await this.run(principal, id, {
      type: 'rotate_secret',
      secret: this.encrypt(secret, id),
      previousSecretExpiresAt: expiresAt,
    });
    return { ...view, secret, previous_secret_expires_at: expiresAt };
  }

  private async run(
    principal: Principal,
    id: string,
    command: CommandOn,
    expectedVersion?: number,
  ) {
    // Tenancy and key scope first: what the caller may not see, it may not change. Checked
    // again on the state the command is decided on, in case a change moved it meanwhile.
    await this.get(principal, id);
    const { state: subscription } = await this.store.execute(id, command, {
      organizationId: principal.organizationId,
      actor: actorOf(principal),
      expectedVersion,
      mayChange: (state) => keyCovers(principal.scope, state.scope),
    });
    return toView(subscription, this.keyring);
  }

  /** Bound to the subscription id: a ciphertext copied to another subscription fails to decrypt. */
  private encrypt(secret: string, subscriptionId: string): string {
    return encryptSecret(this.keyring, secret, boundTo(subscriptionId, 'signing_secret'));
  }

  /**
   * The changes, with the headers sealed if they change: compared in the clear, against
   * the state the update is decided on. Headers still in the clear (or under an older key)
   * are sealed by any update, whatever it changes.
   */
  private sealChanges(
    id: string,
    changes: Partial<EditableFields>,
    state: Subscription | undefined,
  ): UpdateCommand['changes'] {
    const { headers, ...rest } = changes;
    if (!state || state.deleted) return rest;
    const current = openHeaders(this.keyring, id, state.headers);
    const wanted = headers ?? current;
    if (
      !headersNeedSealing(this.keyring, state.headers) &&
      JSON.stringify(wanted) === JSON.stringify(current)
    )
      return rest;
    return { ...rest, headers: sealHeaders(this.keyring, id, wanted) };
  }

  /** The contract's field rules; every bad field is named, all at once. */
  private async validate(
    input: PatchWebhookInput,
    principal: Principal,
  ): Promise<Partial<EditableFields>> {
    if (input.scope !== undefined && !keyCovers(principal.scope, input.scope)) {
      const { domains = [], mailboxes = [] } = principal.scope;
      const message = `must lie within this API key's scope (domains: ${domains.join(', ') || 'none'}; mailboxes: ${mailboxes.join(', ') || 'none'})`;
      throw new ApiError(403, 'outside_key_scope', `scope ${message}`, [
        { field: 'scope', code: 'outside_key_scope', message },
      ]);
    }
    const details: ErrorDetail[] = [];
    const out: Partial<EditableFields> = {};
    if (input.url !== undefined) {
      const url = await this.checkUrl(input.url, details);
      if (url) out.url = url;
    }
    if (input.events !== undefined) {
      const events = normalizeEventFilters(input.events);
      if (events.ok) out.events = events.filters;
      else
        details.push(
          ...events.errors.map((e) => ({ field: 'events', code: e.code, message: e.message })),
        );
    }
    if (input.headers !== undefined) {
      const headers = validateCustomHeaders(input.headers);
      if (headers.ok) out.headers = headers.headers;
      else
        details.push(
          ...headers.errors.map((e) => ({ field: 'headers', code: e.code, message: e.message })),
        );
    }
    if (input.scope !== undefined) out.scope = input.scope;
    if (input.format !== undefined) out.format = input.format;
    if (input.description !== undefined) out.description = input.description;
    if (input.rate_limit !== undefined) out.rateLimit = input.rate_limit;
    if (input.metadata !== undefined) out.metadata = input.metadata ?? {};
    if (details.length > 0) throw ApiError.validation(details);
    return out;
  }

  /** The URL rules of the contract, at save time: syntax, scheme, and where the host resolves. */
  private async checkUrl(raw: string, details: ErrorDetail[]): Promise<string | undefined> {
    const checked = checkEndpointUrl(raw, this.policy);
    if (!checked.ok) {
      details.push({ field: 'url', code: checked.code, message: checked.message });
      return undefined;
    }
    const host = checked.url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) {
      try {
        await resolveAndCheck(host, this.policy, resolveHost);
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        details.push({ field: 'url', code: code ?? 'unresolvable_host', message });
        return undefined;
      }
    }
    return checked.url.toString();
  }
}
