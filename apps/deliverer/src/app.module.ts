import {
  DEAD_LETTER_RETENTION_MS,
  retryTopic,
  retryTopicRetentionMs,
  TOPICS,
} from '@hookpost/contracts';
import { retryDelays } from '@hookpost/domain';
import { retention, serviceModules, type Logger } from '@hookpost/platform';
import { Module, type DynamicModule } from '@nestjs/common';
import type { DelivererConfig } from './config.js';
import { DEFAULT_BREAKER_SETTINGS, EndpointBreakers } from './delivery/breakers.js';
import { DeliveryService } from './delivery/delivery.service.js';
import { JobsConsumer } from './delivery/jobs.consumer.js';
import { EndpointView } from './endpoints/endpoint-view.js';
import { securityProviders } from './security.js';

@Module({})
export class AppModule {
  static forRoot(config: DelivererConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: serviceModules('deliverer', config, logger, [
        { topic: TOPICS.subscriptionState, config: { 'cleanup.policy': 'compact' } },
        { topic: TOPICS.deliveryJobs },
        { topic: TOPICS.deliveryAttempts },
        { topic: TOPICS.deliveriesDead, config: retention(DEAD_LETTER_RETENTION_MS) },
        ...retryDelays(config.RETRY_SCHEDULE).map((delay) => ({
          topic: retryTopic(delay),
          config: retention(retryTopicRetentionMs(delay)),
        })),
      ]),
      providers: [
        ...securityProviders,
        EndpointView,
        {
          provide: EndpointBreakers,
          useFactory: () =>
            new EndpointBreakers({
              ...DEFAULT_BREAKER_SETTINGS,
              errorThresholdPercentage: config.BREAKER_ERROR_THRESHOLD_PERCENT,
              volumeThreshold: config.BREAKER_VOLUME_THRESHOLD,
              resetTimeoutMs: config.BREAKER_RESET_TIMEOUT_MS,
            }),
        },
        DeliveryService,
        JobsConsumer,
      ],
    };
  }
}
