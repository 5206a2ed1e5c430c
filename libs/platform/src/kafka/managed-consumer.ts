import type { Kafka } from 'kafkajs';
import type { Readiness } from '../health/readiness.js';
import type { Logger } from '../logging/logger.js';
import { startInBackground } from '../service/background.js';
import { BatchConsumer, type BatchConsumerOptions, type BatchHandler } from './kafka.js';

/** What ManagedConsumer needs of a consumer (BatchConsumer, WindowedConsumer). */
export interface ConsumerEngine<H> {
  readonly isReady: boolean;
  start(handler: H): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A service's consumer with its lifecycle: readiness registered under `name`, started
 * in the background (after `after`, e.g. a view catching up) so the service's HTTP
 * endpoints answer at once, and stopped cleanly even while still starting.
 */
export class ManagedConsumer<H> {
  private stopping = false;

  constructor(
    private readonly name: string,
    private readonly consumer: ConsumerEngine<H>,
    private readonly logger: Logger,
    readiness: Readiness,
  ) {
    readiness.register(name, () => this.consumer.isReady);
  }

  /** The common case: a committing batch consumer of `topics`, from the beginning. */
  static ofBatches(
    kafka: Kafka,
    name: string,
    group: Pick<BatchConsumerOptions, 'groupId' | 'topics' | 'maxBytesPerPartition' | 'gather'>,
    logger: Logger,
    readiness: Readiness,
  ): ManagedConsumer<BatchHandler> {
    const consumer = new BatchConsumer(kafka, { ...group, fromBeginning: true }, logger);
    return new ManagedConsumer(name, consumer, logger, readiness);
  }

  start(handler: H, after: () => Promise<void> = () => Promise.resolve()): void {
    startInBackground(
      this.name,
      async () => {
        await after();
        if (!this.stopping) await this.consumer.start(handler);
      },
      this.logger,
      () => this.stopping,
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.stop();
  }
}
