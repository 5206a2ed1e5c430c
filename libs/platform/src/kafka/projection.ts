import { viewConsumerGroup } from '@hookpost/contracts';
import type { Kafka } from 'kafkajs';
import { hostname } from 'node:os';
import type { z } from 'zod';
import type { Readiness } from '../health/readiness.js';
import type { Logger } from '../logging/logger.js';
import { signal, startInBackground } from '../service/background.js';
import { TopicView } from './topic-view.js';
import { decodeOrPassOver } from './passed-over.js';

export interface ProjectionOptions<T> {
  /** Names the readiness check and the per-process consumer group. */
  name: string;
  service: string;
  topics: string[];
  schema: z.ZodType<T>;
  /**
   * Commits what it applied, so that others can see how far it has read, and confirms
   * every CONFIRM_INTERVAL_MS that it is current (`currentAsOf`): for a view whose
   * service must stop acting on a change within a bound (the deliverer's, ADR 0017).
   */
  acknowledge?: boolean;
}

const CONFIRM_INTERVAL_MS = 1_000;

/**
 * An in-memory projection of whole topics: every message decoded with `schema` and
 * handed to `apply`, in order. Ready once it has caught up with what the topics held at
 * start; `loaded` settles then. A message that does not decode is logged and skipped:
 * only our own services write these topics, so it is a bug to look at, not input.
 */
export class Projection<T> {
  private readonly view: TopicView;
  private readonly caughtUp = signal();
  private stopping = false;
  private confirming: NodeJS.Timeout | undefined;
  private unconfirmed = false;

  constructor(
    kafka: Kafka,
    private readonly options: ProjectionOptions<T>,
    private readonly logger: Logger,
    readiness: Readiness,
  ) {
    const instance = `${hostname()}-${process.pid}-${Date.now()}`;
    this.view = new TopicView(
      kafka,
      {
        groupId: viewConsumerGroup(options.service, instance),
        topics: options.topics,
        acknowledge: options.acknowledge,
      },
      logger,
    );
    readiness.register(options.name, () => this.view.isReady);
  }

  get loaded(): Promise<void> {
    return this.caughtUp.promise;
  }

  /** See TopicView.currentAsOf; confirmed only by a view that acknowledges. */
  get currentAsOf(): number | undefined {
    return this.view.currentAsOf;
  }

  /** `apply` gets each value in order with its key; a tombstone (null value) as null. */
  start(apply: (value: T | null, key: string | null) => void): void {
    startInBackground(
      this.options.name,
      async () => {
        const started = Date.now();
        await this.view.start((messages) => {
          for (const message of messages) {
            const key = message.key?.toString('utf8') ?? null;
            if (message.value === null) {
              apply(null, key);
              continue;
            }
            const value = decodeOrPassOver(
              this.options.schema,
              message,
              this.logger,
              `message in ${this.options.name}`,
            );
            if (value !== undefined) apply(value, key);
          }
        });
        await this.view.waitUntilCaughtUp(120_000);
        this.logger.info({ ms: Date.now() - started }, `${this.options.name} loaded`);
        this.caughtUp.resolve();
        if (this.options.acknowledge && !this.stopping) this.keepConfirming();
      },
      this.logger,
      () => this.stopping,
    );
  }

  /** See TopicView.catchUpToNow. */
  catchUpToNow(timeoutMs: number): Promise<boolean> {
    return this.view.catchUpToNow(timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.confirming);
    await this.view.stop();
  }

  /** One confirmation at a time; one that fails (Kafka away) lets `currentAsOf` age. */
  private keepConfirming(): void {
    this.confirming = setTimeout(() => {
      this.view
        .catchUpToNow(CONFIRM_INTERVAL_MS * 2)
        .then(
          () => {
            if (this.unconfirmed) this.logger.info(`${this.options.name} confirmed current again`);
            this.unconfirmed = false;
          },
          (error: unknown) => {
            // Once per spell, not every second while Kafka is away.
            if (!this.unconfirmed)
              this.logger.warn(
                { err: error },
                `${this.options.name} cannot confirm it is current; it ages until it can`,
              );
            this.unconfirmed = true;
          },
        )
        .finally(() => {
          if (!this.stopping) this.keepConfirming();
        });
    }, CONFIRM_INTERVAL_MS);
    this.confirming.unref();
  }
}
