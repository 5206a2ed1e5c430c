import type { DynamicModule, Type } from '@nestjs/common';
import type { z } from 'zod';
import type { CommonConfig } from '../config/config.js';
import { HealthModule } from '../health/health.module.js';
import type { TopicSpec } from '../kafka/kafka.js';
import { KafkaModule } from '../kafka/kafka.module.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { CoreModule } from './core.module.js';
import { kafkaSettings, loadConfigOrExit, runService, type ServiceOptions } from './run-service.js';

/** What every service's root module imports: its config and logger, health and metrics, Kafka. */
export function serviceModules(
  service: string,
  config: CommonConfig,
  logger: Logger,
  topics: TopicSpec[],
): Array<DynamicModule | Type> {
  return [
    CoreModule.forRoot(config, logger, service),
    HealthModule,
    KafkaModule.forRoot({
      settings: kafkaSettings(config, service),
      topics,
      partitions: config.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    }),
  ];
}

/** A service's whole `main`: config (or exit naming the bad variables), logger, Nest app. */
export async function serve<S extends z.ZodType<CommonConfig & { PORT: number }>>(
  service: string,
  schema: S,
  module: (config: z.infer<S>, logger: Logger) => DynamicModule,
  configure?: ServiceOptions['configure'],
): Promise<void> {
  const config = loadConfigOrExit(service, schema);
  const logger = createLogger(service, config.LOG_LEVEL);
  await runService({
    name: service,
    port: config.PORT,
    logger,
    module: module(config, logger),
    configure,
  });
}
