import {
  subscriptionEventSchema,
  TOPICS,
  type Actor,
  type SubscriptionEvent,
} from '@hookpost/contracts';
import {
  decide,
  evolve,
  replay,
  type DeliveryHealth,
  type Subscription,
  type SubscriptionCommand,
} from '@hookpost/domain';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ApiError } from '../http/api-error.js';
import { enqueue, OutboxRelay } from './outbox.js';
import { projectSubscription } from './read-model.js';

const UNIQUE_VIOLATION = '23505';
/** How long an API call waits for its change to reach Kafka before answering anyway. */
const PUBLISH_WAIT_MS = 2_000;

export interface ExecuteOptions {
  organizationId: string;
  /** Who asks: recorded on each event the command makes (the webhook's history). */
  actor: Actor;
  expectedVersion?: number;
  now?: Date;
  /**
   * Whether the caller may change the subscription as it stands, checked on the state the
   * command is decided on (a scoped API key's reach): a check made before the transaction
   * could be overtaken by a change that moves the subscription out of it.
   */
  mayChange?: (state: Subscription) => boolean;
}

/**
 * A command, or how to make it from the state it will be decided on, inside the same
 * transaction: for what depends on the stored state, such as whether sealed headers change.
 */
export type CommandOn =
  SubscriptionCommand | ((state: Subscription | undefined) => SubscriptionCommand);

/** A subscription's state, folded from its stored events. */
export async function loadSubscription(
  manager: EntityManager,
  subscriptionId: string,
): Promise<Subscription | undefined> {
  const rows = (await manager.query(
    'SELECT event FROM subscription_events WHERE subscription_id = $1 ORDER BY version',
    [subscriptionId],
  )) as Array<{ event: unknown }>;
  return replay(rows.map((row) => subscriptionEventSchema.parse(row.event)));
}

/**
 * Runs a command in one transaction: decided against the state folded from the stored
 * events; the new events, the read model row and the outbox rows (history and new state)
 * commit together. `expectedVersion` (from If-Match) must equal the current version. Two
 * writers deciding on the same version collide on (subscription_id, version): the loser
 * gets 409, never a lost update. Used by the API and by the maintenance commands.
 */
export async function executeCommand(
  dataSource: DataSource,
  subscriptionId: string,
  commandOn: CommandOn,
  options: ExecuteOptions,
): Promise<{ state: Subscription; appended: boolean }> {
  return dataSource
    .transaction((manager) => executeIn(manager, subscriptionId, commandOn, options))
    .catch(
      conflictOnCollision('the subscription was changed at the same time; read it again and retry'),
    );
}

/**
 * Two writers that decided on the same version of a subscription collide on
 * (subscription_id, version): the loser's error, as the 409 its caller gets.
 */
export function conflictOnCollision(message: string) {
  return (error: unknown): never => {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new ApiError(409, 'conflict', message);
    }
    throw error;
  };
}

/** executeCommand's work, in the caller's transaction (an organisation's deletion runs many). */
export async function executeIn(
  manager: EntityManager,
  subscriptionId: string,
  commandOn: CommandOn,
  options: ExecuteOptions,
): Promise<{ state: Subscription; appended: boolean }> {
  const health = await lockHealth(manager, subscriptionId, commandOn);
  const state = await loadSubscription(manager, subscriptionId);
  // Another organisation's subscription is indistinguishable from a missing one.
  if (
    state &&
    (state.organizationId !== options.organizationId ||
      (options.mayChange && !options.mayChange(state)))
  )
    throw ApiError.notFound('webhook');
  if (options.expectedVersion !== undefined && state && state.version !== options.expectedVersion) {
    throw new ApiError(
      412,
      'version_mismatch',
      `expected version ${options.expectedVersion} (If-Match, or expected_version over gRPC) is not the current version ${state.version}`,
    );
  }
  const command = typeof commandOn === 'function' ? commandOn(state) : commandOn;
  if (command.type === 'create') await assertOrganizationLive(manager, options.organizationId);
  const events = decide(command, state, options.now ?? new Date(), health).map((event) => ({
    ...event,
    actor: options.actor,
  }));
  if (events.length === 0) return { state: state!, appended: false };
  await append(manager, events);
  const next = events.reduce<Subscription | undefined>(evolve, state)!;
  await projectSubscription(manager, next);
  // The views (matcher, deliverer) load the compacted state topic, not the history.
  await enqueue(manager, [{ topic: TOPICS.subscriptionState, key: next.id, value: next }]);
  return { state: next, appended: true };
}

/**
 * A subscription is created only for an organisation that is not deleted. The row is
 * key-share locked until the creation commits, and a deletion locks it for update before
 * it lists the subscriptions to delete: a creation that began with a key the deletion then
 * revoked either commits first, and is deleted with the rest, or waits, and is refused.
 * (The weakest lock that does this: creations do not wait for each other, nor for a
 * rename or a change of domains.)
 */
async function assertOrganizationLive(manager: EntityManager, organizationId: string) {
  const [row] = (await manager.query(
    'SELECT deleted_at FROM organizations WHERE id = $1 FOR KEY SHARE',
    [organizationId],
  )) as Array<{ deleted_at: Date | null }>;
  if (row?.deleted_at) throw ApiError.notFound('organization');
}

/**
 * The failure streak, for the two commands that turn on it, locked before the subscription
 * is read, so that a resume and a mark_failed on one subscription are decided one after
 * the other, each on what the other committed. A resume clears it, at once with the
 * status: a failed attempt recorded between the two would find the old streak and mark
 * the subscription failed again (a command that throws rolls the reset back). mark_failed
 * is decided on the streak as it stands, not as it was when the failures that prompted it
 * were counted, in an earlier transaction: a resume since then stands.
 */
async function lockHealth(
  manager: EntityManager,
  subscriptionId: string,
  command: CommandOn,
): Promise<DeliveryHealth | undefined> {
  // resume and mark_failed are always given as they are; only updates are made from the state.
  if (typeof command === 'function') return undefined;
  if (command.type === 'resume') {
    await manager.query(
      'UPDATE subscription_health SET consecutive_failures = 0 WHERE subscription_id = $1',
      [subscriptionId],
    );
    return undefined;
  }
  if (command.type !== 'mark_failed') return undefined;
  const [row] = (await manager.query(
    'SELECT consecutive_failures FROM subscription_health WHERE subscription_id = $1 FOR UPDATE',
    [subscriptionId],
  )) as Array<{ consecutive_failures: number }>;
  return { consecutiveFailures: row?.consecutive_failures ?? 0 };
}

async function append(manager: EntityManager, events: SubscriptionEvent[]): Promise<void> {
  for (const event of events) {
    await manager.query(
      `INSERT INTO subscription_events (subscription_id, organization_id, version, type, event, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        event.subscriptionId,
        event.organizationId,
        event.version,
        event.type,
        JSON.stringify(event),
        event.occurredAt,
      ],
    );
  }
  await enqueue(
    manager,
    events.map((event) => ({
      topic: TOPICS.subscriptionEvents,
      key: event.subscriptionId,
      value: event,
    })),
  );
}

/**
 * The subscription event store as the API uses it: an append-only table of events, a
 * version sequence per subscription (see executeCommand), and a change in Kafka before
 * the call answers, when Kafka is there.
 */
@Injectable()
export class SubscriptionStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
  ) {}

  /**
   * Runs a command; returns the new state (the old one when the command changed nothing,
   * e.g. pausing a paused subscription) and whether it changed anything.
   */
  async execute(
    subscriptionId: string,
    command: CommandOn,
    options: ExecuteOptions,
  ): Promise<{ state: Subscription; changed: boolean }> {
    const result = await executeCommand(this.dataSource, subscriptionId, command, options);
    if (result.appended) await this.relay.kickAndWait(PUBLISH_WAIT_MS);
    return { state: result.state, changed: result.appended };
  }
}
