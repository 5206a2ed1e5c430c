import type { Kafka } from 'kafkajs';
import type { Readiness } from '../health/readiness.js';
import type { Logger } from '../logging/logger.js';
import { startInBackground } from '../service/background.js';
import { BatchConsumer, type BatchConsumerOptions, type BatchHandler } from './kafka.js';

/**
 * A service's consumer with its lifecycle: readiness registered under `name`, started
 * in the background (after `after`, e.g. a view catching up) so the service's HTTP
 * endpoints answer at once, and stopped cleanly even while still starting.
 */
export class ManagedConsumer {
  private readonly consumer: BatchConsumer;
  private stopping = false;

  constructor(
    kafka: Kafka,
    private readonly options: BatchConsumerOptions & { name: string },
    private readonly logger: Logger,
    readiness: Readiness,
  ) {
    this.consumer = new BatchConsumer(kafka, options, logger);
    readiness.register(options.name, () => this.consumer.isReady);
  }

  start(handler: BatchHandler, after: () => Promise<void> = () => Promise.resolve()): void {
    startInBackground(
      this.options.name,
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
