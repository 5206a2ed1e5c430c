import type { Admin, Kafka } from 'kafkajs';
import { Gauge } from 'prom-client';
import { withTimeout } from '../concurrency/timeout.js';
import type { Logger } from '../logging/logger.js';
import { highWatermarks } from './kafka.js';

const groupLag = new Gauge({
  name: 'hookpost_kafka_group_lag',
  help: 'Messages a consumer group has not committed yet, per topic, as the brokers see it (every instance of the group reports the same: take the max, not the sum)',
  labelNames: ['group', 'topic'],
});

const MEASURE_EVERY_MS = 30_000;

/**
 * A consumer group's lag as the brokers see it: committed offsets against the partitions'
 * ends, measured every 30 s while a consumer of the group runs here. Unlike the lag a
 * consumer reports from its own fetches (`hookpost_kafka_consumer_lag`), it keeps
 * growing when the consumer hangs or crash-loops, which is when it matters most.
 */
export class GroupLagWatcher {
  private readonly groups = new Map<string, readonly string[]>();
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private measuring: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    private readonly everyMs = MEASURE_EVERY_MS,
  ) {}

  watch(group: string, topics: readonly string[]): void {
    this.groups.set(group, topics);
    this.timer ??= setInterval(() => void this.measure(), this.everyMs).unref();
    void this.measure();
  }

  async unwatch(group: string): Promise<void> {
    for (const topic of this.groups.get(group) ?? []) groupLag.remove({ group, topic });
    this.groups.delete(group);
    if (this.groups.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    // Not waiting for a measurement under way: with the brokers away it could take as long
    // as kafkajs's retries, and a stopping service must not. It disconnects on its own.
    const admin = this.admin;
    this.admin = undefined;
    if (admin) await withTimeout(admin.disconnect(), 1_000).catch(() => undefined);
  }

  /** One measurement of every watched group (also what the timer runs). */
  measure(): Promise<void> {
    this.measuring ??= this.measureAll().finally(() => (this.measuring = undefined));
    return this.measuring;
  }

  private async measureAll(): Promise<void> {
    try {
      let admin = this.admin;
      if (!admin) {
        admin = this.kafka.admin();
        await admin.connect();
        // Unwatched meanwhile: nothing left to measure.
        if (this.groups.size === 0) {
          await withTimeout(admin.disconnect(), 1_000).catch(() => undefined);
          return;
        }
        this.admin = admin;
      }
      for (const [group, topics] of this.groups) {
        const committed = await admin.fetchOffsets({ groupId: group, topics: [...topics] });
        for (const { topic, partitions } of committed) {
          const ends = await highWatermarks(admin, topic, 5_000);
          let lag = 0n;
          for (const { partition, offset } of partitions) {
            const end = ends.get(partition);
            // -1: nothing committed yet on that partition; its lag is not known.
            if (end !== undefined && offset !== '-1')
              lag += end > BigInt(offset) ? end - BigInt(offset) : 0n;
          }
          if (this.groups.has(group)) groupLag.set({ group, topic }, Number(lag));
        }
      }
    } catch (error) {
      // The brokers away: the consumers say so; the gauge keeps its last values.
      this.logger.debug({ err: error }, 'could not measure consumer group lag');
    }
  }
}

const watchers = new WeakMap<Kafka, GroupLagWatcher>();

/** The process's watcher for one Kafka client. */
export function groupLagWatcher(kafka: Kafka, logger: Logger): GroupLagWatcher {
  let watcher = watchers.get(kafka);
  if (!watcher) watchers.set(kafka, (watcher = new GroupLagWatcher(kafka, logger)));
  return watcher;
}
