import type {
  PayloadFormat,
  StoredHeaders,
  SubscriptionEvent,
  SubscriptionScope,
  SubscriptionState,
} from '@hookpost/contracts';

/**
 * A subscription's state is the fold of its events (`evolve`); a change is a command
 * that `decide` turns into new events, or refuses. No storage, no framework: the API
 * appends what `decide` returns, and every view (API read model, matcher index,
 * deliverer endpoint table) folds the same events with the same `evolve`.
 */
export type Subscription = SubscriptionState;

export class SubscriptionError extends Error {
  constructor(
    readonly code: 'not_found' | 'already_exists' | 'invalid_transition',
    message: string,
  ) {
    super(message);
    this.name = 'SubscriptionError';
  }
}

/**
 * Replaced secrets kept signing beside the previous one, at most: each adds a signature
 * to every request, so a burst of rotations cannot grow the header without bound.
 */
export const MAX_OLDER_SECRETS = 3;

export function evolve(
  state: Subscription | undefined,
  event: SubscriptionEvent,
): Subscription | undefined {
  const stamp = { version: event.version, updatedAt: event.occurredAt };
  switch (event.type) {
    case 'subscription.created':
      return {
        id: event.subscriptionId,
        organizationId: event.organizationId,
        ...event.data,
        status: 'active',
        previousSecret: null,
        createdAt: event.occurredAt,
        deleted: false,
        ...stamp,
      };
    case 'subscription.updated':
      return state && { ...state, ...definedOnly(event.data), ...stamp };
    case 'subscription.secret_rotated': {
      if (!state) return undefined;
      // Every replaced secret signs until its own expiry, however soon the next rotation
      // comes: a receiver still on it keeps verifying for the overlap it was promised.
      const stillSigning = [
        ...(state.previousSecret ? [state.previousSecret] : []),
        ...(state.olderSecrets ?? []),
      ].filter((s) => Date.parse(s.expiresAt) > Date.parse(event.occurredAt));
      return {
        ...state,
        secret: event.data.secret,
        previousSecret: {
          secret: event.data.previousSecret,
          expiresAt: event.data.previousSecretExpiresAt,
        },
        olderSecrets: stillSigning.slice(0, MAX_OLDER_SECRETS),
        ...stamp,
      };
    }
    case 'subscription.secrets_reencrypted': {
      if (!state) return undefined;
      const older = event.data.olderSecrets;
      return {
        ...state,
        secret: event.data.secret,
        previousSecret:
          state.previousSecret && event.data.previousSecret
            ? { ...state.previousSecret, secret: event.data.previousSecret }
            : state.previousSecret,
        olderSecrets: state.olderSecrets?.map((s, i) => ({ ...s, secret: older?.[i] ?? s.secret })),
        headers: event.data.headers ?? state.headers,
        ...stamp,
      };
    }
    case 'subscription.status_changed':
      return state && { ...state, status: event.data.status, ...stamp };
    case 'subscription.deleted':
      return state && { ...state, deleted: true, ...stamp };
  }
}

/**
 * Fields added after subscriptions were first written, as a state written before then
 * has them: none.
 */
const ADDED_LATER: Partial<Record<string, unknown>> = { rateLimit: null, metadata: {} };

/** Folds a whole history; undefined when there is none. */
export function replay(events: Iterable<SubscriptionEvent>): Subscription | undefined {
  let state: Subscription | undefined;
  for (const event of events) state = evolve(state, event);
  return state;
}

function definedOnly<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

export interface CreateCommand {
  type: 'create';
  subscriptionId: string;
  organizationId: string;
  url: string;
  events: string[];
  scope: SubscriptionScope;
  /** Sealed (`sealHeaders`). */
  headers: StoredHeaders;
  format: PayloadFormat;
  description: string | null;
  /** Requests a second at most to the endpoint; null for no limit. */
  rateLimit: number | null;
  /** The customer's own labels, kept as given. */
  metadata: Record<string, string>;
  secret: string;
}

/**
 * `headers`, sealed, only when they change: a fresh ciphertext never equals the stored one,
 * so the caller, who can decrypt, is the one to tell.
 */
export interface UpdateCommand {
  type: 'update';
  changes: Partial<
    Pick<
      Subscription,
      'url' | 'events' | 'scope' | 'headers' | 'format' | 'description' | 'rateLimit' | 'metadata'
    >
  >;
}

export interface RotateSecretCommand {
  type: 'rotate_secret';
  secret: string;
  previousSecretExpiresAt: string;
}

/**
 * Replaces the ciphertexts of the same secrets and headers (SECRET_ENCRYPTION_KEY
 * rotation, or headers still in the clear).
 */
export interface ReencryptSecretsCommand {
  type: 'reencrypt_secrets';
  secret: string;
  previousSecret: string | null;
  /** The older secrets' new ciphertexts, in the state's order. */
  olderSecrets?: string[];
  /** The custom headers sealed anew (`sealHeaders`): they were in the clear, or under an older key. */
  headers?: string;
}

export interface ChangeStatusCommand {
  type: 'pause' | 'resume';
}

/**
 * Disables a subscription whose endpoint answered 410 Gone. Like mark_failed it is
 * decided after the attempt was logged; a change made to the subscription after the
 * answer (a resume, a new URL) already deals with it, and the 410 is then stale.
 */
export interface DisableCommand {
  type: 'disable';
  /** When the endpoint answered 410 (the attempt's time). */
  answeredAt: string;
}

/**
 * Marks an active subscription `failed` because its deliveries keep failing. It holds
 * the condition, not the verdict: the failures are counted in one transaction and the
 * command runs in a later one, and a resume (or a success) in between resets the streak.
 */
export interface MarkFailedCommand {
  type: 'mark_failed';
  /** Failed attempts in a row that mark a subscription failed (AUTO_PAUSE_AFTER_FAILURES). */
  afterFailures: number;
}

export interface DeleteCommand {
  type: 'delete';
}

export type SubscriptionCommand =
  | CreateCommand
  | UpdateCommand
  | RotateSecretCommand
  | ReencryptSecretsCommand
  | ChangeStatusCommand
  | DisableCommand
  | MarkFailedCommand
  | DeleteCommand;

/**
 * What a decision needs besides the subscription's events: its deliveries' failure
 * streak, read where the command is decided (a success or a resume resets it).
 */
export interface DeliveryHealth {
  consecutiveFailures: number;
}

const TARGET_STATUS = {
  pause: { status: 'paused', reason: 'api' },
  resume: { status: 'active', reason: 'api' },
  mark_failed: { status: 'failed', reason: 'auto_pause' },
  disable: { status: 'disabled', reason: 'gone' },
} as const;

/**
 * Decides what a command does to a subscription. Returns the new events (empty when
 * the command changes nothing, e.g. pausing a paused subscription), or throws a
 * SubscriptionError with a stable code. `health` matters to `mark_failed` alone; without
 * it, no failures are on record.
 */
export function decide(
  command: SubscriptionCommand,
  state: Subscription | undefined,
  now: Date,
  health: DeliveryHealth = { consecutiveFailures: 0 },
): SubscriptionEvent[] {
  const occurredAt = now.toISOString();
  if (command.type === 'create') {
    if (state)
      throw new SubscriptionError(
        'already_exists',
        `subscription ${command.subscriptionId} exists`,
      );
    const { type: _, subscriptionId, organizationId, ...data } = command;
    return [
      {
        eventId: `${subscriptionId}@1`,
        type: 'subscription.created',
        subscriptionId,
        organizationId,
        version: 1,
        occurredAt,
        data,
      },
    ];
  }
  if (!state || state.deleted) throw new SubscriptionError('not_found', 'subscription not found');
  const version = state.version + 1;
  const base = {
    eventId: `${state.id}@${version}`,
    subscriptionId: state.id,
    organizationId: state.organizationId,
    version,
    occurredAt,
  };
  switch (command.type) {
    case 'update': {
      // Only what differs is a change: a repeated update makes no new version, which would
      // turn every other client's If-Match stale for nothing.
      const changes = Object.fromEntries(
        Object.entries(definedOnly(command.changes)).filter(
          ([field, value]) =>
            JSON.stringify(value) !==
            JSON.stringify(state[field as keyof Subscription] ?? ADDED_LATER[field] ?? null),
        ),
      );
      if (Object.keys(changes).length === 0) return [];
      return [{ ...base, type: 'subscription.updated', data: changes }];
    }
    case 'rotate_secret':
      return [
        {
          ...base,
          type: 'subscription.secret_rotated',
          data: {
            secret: command.secret,
            previousSecret: state.secret,
            previousSecretExpiresAt: command.previousSecretExpiresAt,
          },
        },
      ];
    case 'reencrypt_secrets':
      return [
        {
          ...base,
          type: 'subscription.secrets_reencrypted',
          data: {
            secret: command.secret,
            previousSecret: command.previousSecret,
            ...(command.olderSecrets?.length ? { olderSecrets: command.olderSecrets } : {}),
            ...(command.headers !== undefined ? { headers: command.headers } : {}),
          },
        },
      ];
    case 'pause':
    case 'resume':
    case 'mark_failed':
    case 'disable': {
      const target = TARGET_STATUS[command.type];
      if (state.status === target.status) return [];
      // A subscription the endpoint told us is gone stays disabled until a user resumes it;
      // automatic failure marking never overrides a user's pause. Nor a resume since the
      // failures were counted: it reset the streak, which is judged as it stands now.
      if (
        command.type === 'mark_failed' &&
        (state.status !== 'active' || health.consecutiveFailures < command.afterFailures)
      )
        return [];
      // A 410 answered before the subscription last changed was an answer to what it was.
      if (
        command.type === 'disable' &&
        Date.parse(state.updatedAt) > Date.parse(command.answeredAt)
      )
        return [];
      return [{ ...base, type: 'subscription.status_changed', data: { ...target } }];
    }
    case 'delete':
      return [{ ...base, type: 'subscription.deleted', data: {} }];
  }
}

/** The secrets that sign now: the current one, and each replaced one until it expires. */
export function signingSecrets(subscription: Subscription, now: Date): string[] {
  const replaced = [
    ...(subscription.previousSecret ? [subscription.previousSecret] : []),
    ...(subscription.olderSecrets ?? []),
  ];
  return [
    subscription.secret,
    ...replaced.filter((s) => Date.parse(s.expiresAt) > now.getTime()).map((s) => s.secret),
  ];
}
