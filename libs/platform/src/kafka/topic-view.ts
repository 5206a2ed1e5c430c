import type { Kafka } from 'kafkajs';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logging/logger.js';
import { BatchConsumer, LazyAdmin, readableEnds, type IncomingMessage } from './kafka.js';

/**
 * Reads whole topics into an in-memory view (the matcher's subscription index, the
 * deliverer's endpoint table). Every process reads every partition, from the start,
 * with a consumer group of its own, and reports when it has caught up with what the
 * topics held when it started: until then its service is not ready.
 *
 * A view that acknowledges commits what it has applied, so that others can see how far it
 * has read (subscription-api's DELETE waits on the deliverers' views), and its group is
 * deleted when it stops.
 */
export class TopicView {
  private readonly consumer: BatchConsumer;
  private readonly remaining = new Map<string, bigint>();
  private targetsKnown = false;
  private readonly waiters: Array<() => void> = [];
  /** The next offset to read, per `topic/partition`. */
  private readonly positions = new Map<string, bigint>();
  private readonly progressed = new Set<() => void>();
  private readonly admin: LazyAdmin;
  /** When (performance.now()) the topics' ends were read that the view last caught up with. */
  private current: number | undefined;
  private startedAt = 0;
  private stopped = false;

  constructor(
    kafka: Kafka,
    private readonly options: { groupId: string; topics: string[]; acknowledge?: boolean },
    private readonly logger: Logger,
  ) {
    this.admin = new LazyAdmin(kafka);
    const acknowledge = options.acknowledge ?? false;
    this.consumer = new BatchConsumer(
      kafka,
      {
        groupId: options.groupId,
        topics: options.topics,
        fromBeginning: true,
        commit: acknowledge,
        // A group per process would add a lag series per restart.
        lagMetrics: false,
        // A process that died is dropped from its group this long after; until then a
        // DELETE counts its view as live and waits out the view lease for it (ADR 0017).
        sessionTimeoutMs: 10_000,
      },
      logger,
    );
  }

  /**
   * When (on performance.now()'s clock) the view last held everything its topics held:
   * every change that had reached Kafka by then has been applied. Undefined before it
   * first caught up, and once it stops.
   */
  get currentAsOf(): number | undefined {
    return this.current;
  }

  get caughtUp(): boolean {
    return this.targetsKnown && this.remaining.size === 0;
  }

  get isReady(): boolean {
    return this.caughtUp && this.consumer.isReady;
  }

  /**
   * Joins the view's group, then reads the ends it must reach to be caught up. In that
   * order, whoever looks for the view's group and does not find it yet knows that the view
   * will read past whatever had reached Kafka by then before it counts as caught up (a
   * DELETE's wait, ADR 0017).
   */
  async start(
    apply: (messages: IncomingMessage[]) => void | Promise<void>,
    joinTimeoutMs = 120_000,
  ): Promise<void> {
    await this.consumer.start(async (messages) => {
      await apply(messages);
      const last = messages[messages.length - 1]!;
      const key = `${last.topic}/${last.partition}`;
      this.positions.set(key, BigInt(last.offset) + 1n);
      for (const wake of this.progressed) wake();
      const target = this.remaining.get(key);
      if (target !== undefined && BigInt(last.offset) + 1n >= target) {
        this.remaining.delete(key);
        this.settle();
      }
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.consumer.firstJoin,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`view group not joined after ${joinTimeoutMs} ms`)),
          joinTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    this.startedAt = performance.now();
    const admin = await this.admin.get();
    for (const topic of this.options.topics) {
      for (const [partition, high] of await readableEnds(admin, topic)) {
        const key = `${topic}/${partition}`;
        // Read there already while the ends were asked for.
        if ((this.positions.get(key) ?? 0n) < high) this.remaining.set(key, high);
      }
    }
    this.targetsKnown = true;
    this.settle();
  }

  /** Resolves once caught up; rejects after the timeout. */
  waitUntilCaughtUp(timeoutMs: number): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `view of ${this.options.topics.join(', ')} not caught up after ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Resolves true once the view has read everything its topics hold at the time of the
   * call, false if that takes longer than `timeoutMs`. Cheap when the view is current: one
   * offsets request. Tells "not here yet" from "not there at all".
   */
  async catchUpToNow(timeoutMs: number): Promise<boolean> {
    const asked = performance.now();
    const deadline = Date.now() + timeoutMs;
    const admin = await this.admin.get();
    const targets: Array<[string, bigint]> = [];
    for (const topic of this.options.topics) {
      for (const [partition, high] of await readableEnds(admin, topic, timeoutMs))
        targets.push([`${topic}/${partition}`, high]);
    }
    const behind = () => targets.some(([key, high]) => (this.positions.get(key) ?? 0n) < high);
    while (behind()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.progressed.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.progressed.add(wake);
      });
    }
    // The ends were read after `asked`: whatever had reached Kafka by then is applied.
    if (this.current !== undefined && !this.stopped) this.current = Math.max(this.current, asked);
    return true;
  }

  async stop(): Promise<void> {
    // A stopping view no longer follows its topics: nothing may rely on it from here on.
    this.stopped = true;
    this.current = undefined;
    await this.consumer.stop();
    if (this.options.acknowledge) {
      // Its committed offsets would otherwise stay for the broker's offset retention (a
      // week by default), one group per restart. A group the leave did not empty stays.
      try {
        await (await this.admin.get()).deleteGroups([this.options.groupId]);
      } catch (error) {
        this.logger.warn({ err: error, groupId: this.options.groupId }, 'view group not deleted');
      }
    }
    await this.admin.disconnect();
  }

  private settle(): void {
    if (!this.caughtUp) return;
    if (!this.stopped) this.current = this.startedAt;
    this.logger.info({ topics: this.options.topics }, 'view caught up');
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
