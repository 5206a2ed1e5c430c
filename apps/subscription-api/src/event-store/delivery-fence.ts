import { TOPICS, VIEW_LEASE_MS, viewConsumerGroupPrefix } from '@hookpost/contracts';
import { KAFKA, LazyAdmin, LOGGER, readableEnds, type Logger } from '@hookpost/platform';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram } from 'prom-client';
import { DataSource } from 'typeorm';
import { OutboxRelay } from './outbox.js';

/** How long a DELETE waits for its change to reach Kafka before it answers regardless. */
const PUBLISH_WAIT_MS = VIEW_LEASE_MS;
/** Past the lease, for clocks that run at slightly different rates on different hosts. */
const CLOCK_MARGIN_MS = 500;
const POLL_MS = 50;
/** How often a waiting DELETE asks the relay again (its own timer polls every second). */
const KICK_MS = 500;

export type FenceOutcome = 'acknowledged' | 'lease_lapsed' | 'unpublished';

const fenceSeconds = new Histogram({
  name: 'hookpost_delete_fence_seconds',
  help: 'How long a DELETE waited for the deliverers, by how the wait ended: acknowledged (every live deliverer applied it), lease_lapsed (some did not, and their views can no longer be acted on), unpublished (Kafka did not take the change in time)',
  labelNames: ['outcome'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15],
});

/**
 * The partitions of `ends` (where each holds something to read: partition -> end offset)
 * that a view, having committed `committed` (partition -> next offset to read), has not
 * read to the end. A view that committed nothing for a partition has read none of it.
 */
export function partitionsBehind(
  ends: ReadonlyMap<number, bigint>,
  committed: ReadonlyMap<number, bigint>,
): number[] {
  return [...ends]
    .filter(([partition, end]) => (committed.get(partition) ?? -1n) < end)
    .map(([partition]) => partition);
}

/**
 * Makes a DELETE keep the SPEC's promise: no delivery starts after the call returns
 * (ADR 0017). Every deliverer's view commits what it applied to a consumer group of its
 * own; the DELETE waits until its change is in Kafka and every live deliverer's group has
 * committed past it. A deliverer that does not acknowledge (stuck, or gone without leaving
 * its group) sends nothing once its view has not confirmed for VIEW_LEASE_MS that it is
 * current, so the wait ends then at the latest.
 */
@Injectable()
export class DeliveryFence implements BeforeApplicationShutdown {
  private readonly admin: LazyAdmin;

  constructor(
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
    @Inject(KAFKA) kafka: Kafka,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.admin = new LazyAdmin(kafka);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.admin.disconnect();
  }

  /** Resolves once no deliverer can start a delivery on the subscription's older state. */
  afterChange(subscriptionId: string): Promise<FenceOutcome> {
    return this.afterChanges([subscriptionId]);
  }

  /** As afterChange, for several subscriptions changed together: one wait for them all. */
  async afterChanges(subscriptionIds: readonly string[]): Promise<FenceOutcome> {
    const started = performance.now();
    const outcome = await this.wait(subscriptionIds, started);
    fenceSeconds.observe({ outcome }, (performance.now() - started) / 1000);
    return outcome;
  }

  private async wait(subscriptionIds: readonly string[], started: number): Promise<FenceOutcome> {
    let kicked = started;
    while (await this.unpublished(subscriptionIds)) {
      const now = performance.now();
      if (now - started >= PUBLISH_WAIT_MS) {
        this.logger.warn(
          { subscriptionIds, waitedMs: Math.round(now - started) },
          'answering a DELETE whose change has not reached Kafka: deliverers may act on the subscription until the outbox relay publishes it',
        );
        return 'unpublished';
      }
      if (now - kicked >= KICK_MS) {
        kicked = now;
        void this.relay.kick();
      }
      await sleep(POLL_MS);
    }
    // Any view that confirms it is current from here on has the change; any that last
    // confirmed before now stops acting on its view by the time this lapses.
    const lapses = performance.now() + VIEW_LEASE_MS + CLOCK_MARGIN_MS;
    let behind: string[] = [];
    while (performance.now() < lapses) {
      try {
        behind = await this.deliverersBehind();
        if (behind.length === 0) return 'acknowledged';
      } catch (error) {
        // Kafka away: the deliverers cannot confirm either, and the lease settles it.
        this.logger.debug({ err: error }, 'could not read the deliverers’ progress');
      }
      await sleep(POLL_MS);
    }
    this.logger.warn(
      { subscriptionIds, groups: behind },
      'deliverers did not acknowledge a DELETE; answering as their views have not been confirmed current since',
    );
    return 'lease_lapsed';
  }

  private async unpublished(subscriptionIds: readonly string[]): Promise<boolean> {
    const [row] = (await this.dataSource.query(
      'SELECT EXISTS (SELECT 1 FROM outbox WHERE topic = $1 AND key = ANY($2::text[])) AS waiting',
      [TOPICS.subscriptionState, subscriptionIds],
    )) as Array<{ waiting: boolean }>;
    return row?.waiting ?? false;
  }

  /** The view groups of live deliverers that have not read the state topic to its end. */
  private async deliverersBehind(): Promise<string[]> {
    const admin = await this.admin.get();
    const ends = await readableEnds(admin, TOPICS.subscriptionState, 1_000);
    const prefix = viewConsumerGroupPrefix('deliverer');
    const named = (await admin.listGroups()).groups
      .map((g) => g.groupId)
      .filter((id) => id.startsWith(prefix));
    if (named.length === 0) return [];
    // A group without members is a deliverer that left: it sends nothing.
    const live = (await admin.describeGroups(named)).groups
      .filter((g) => g.members.length > 0)
      .map((g) => g.groupId);
    const behind: string[] = [];
    for (const groupId of live) {
      const [topic] = await admin.fetchOffsets({ groupId, topics: [TOPICS.subscriptionState] });
      const committed = new Map(
        (topic?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)] as const),
      );
      if (partitionsBehind(ends, committed).length > 0) behind.push(groupId);
    }
    return behind;
  }
}
