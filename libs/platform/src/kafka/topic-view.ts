import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../logging/logger.js';
import { BatchConsumer, readableEnds, type IncomingMessage } from './kafka.js';

/**
 * Reads whole topics into an in-memory view (the matcher's subscription index, the
 * deliverer's endpoint table). Every process reads every partition, from the start,
 * with a consumer group of its own, and reports when it has caught up with what the
 * topics held when it started: until then its service is not ready.
 */
export class TopicView {
  private readonly consumer: BatchConsumer;
  private readonly remaining = new Map<string, bigint>();
  private targetsKnown = false;
  private readonly waiters: Array<() => void> = [];
  /** The next offset to read, per `topic/partition`. */
  private readonly positions = new Map<string, bigint>();
  private readonly progressed = new Set<() => void>();
  private admin: Promise<Admin> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: { groupId: string; topics: string[] },
    private readonly logger: Logger,
  ) {
    this.consumer = new BatchConsumer(
      kafka,
      { groupId: options.groupId, topics: options.topics, fromBeginning: true, commit: false },
      logger,
    );
  }

  get caughtUp(): boolean {
    return this.targetsKnown && this.remaining.size === 0;
  }

  get isReady(): boolean {
    return this.caughtUp && this.consumer.isReady;
  }

  async start(apply: (messages: IncomingMessage[]) => void | Promise<void>): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (const topic of this.options.topics) {
        for (const [partition, high] of await readableEnds(admin, topic))
          this.remaining.set(`${topic}/${partition}`, high);
      }
    } finally {
      await admin.disconnect();
    }
    this.targetsKnown = true;
    this.settle();
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
    const deadline = Date.now() + timeoutMs;
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (error: unknown) => {
          this.admin = undefined;
          throw error;
        },
      );
    }
    const admin = await this.admin;
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
    return true;
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    await (await this.admin)?.disconnect();
  }

  private settle(): void {
    if (!this.caughtUp) return;
    this.logger.info({ topics: this.options.topics }, 'view caught up');
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
