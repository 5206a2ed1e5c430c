import {
  Global,
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { Readiness } from '../health/readiness.js';
import type { Logger } from '../logging/logger.js';
import { KAFKA, LOGGER } from '../service/tokens.js';
import {
  createKafka,
  ensureTopics,
  KafkaProducer,
  type KafkaSettings,
  type TopicSpec,
} from './kafka.js';

export interface KafkaModuleOptions {
  settings: KafkaSettings;
  /** Topics this service reads or writes; created at start when missing. */
  topics: TopicSpec[];
  partitions: number;
  replicationFactor: number;
}

const OPTIONS = Symbol('KAFKA_MODULE_OPTIONS');

class ProducerLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    private readonly producer: KafkaProducer,
    @Inject(OPTIONS) private readonly options: KafkaModuleOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: Readiness,
  ) {
    readiness.register('kafka', () => this.producer.isConnected);
  }

  async onModuleInit(): Promise<void> {
    await ensureTopics(
      this.kafka,
      this.options.topics,
      { partitions: this.options.partitions, replicationFactor: this.options.replicationFactor },
      this.logger,
    );
    await this.producer.connect();
  }

  // After every consumer stopped (beforeApplicationShutdown), so their last sends go out.
  async onApplicationShutdown(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** The Kafka client and a connected producer, for the whole service. */
@Global()
@Module({})
export class KafkaModule {
  static forRoot(options: KafkaModuleOptions): DynamicModule {
    return {
      module: KafkaModule,
      providers: [
        { provide: OPTIONS, useValue: options },
        {
          provide: KAFKA,
          inject: [LOGGER],
          useFactory: (logger: Logger) => createKafka(options.settings, logger),
        },
        {
          provide: KafkaProducer,
          inject: [KAFKA, LOGGER],
          useFactory: (kafka: Kafka, logger: Logger) => new KafkaProducer(kafka, logger),
        },
        ProducerLifecycle,
      ],
      exports: [KAFKA, KafkaProducer],
    };
  }
}
