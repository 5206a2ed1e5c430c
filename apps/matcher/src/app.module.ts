import { TOPICS } from '@hookpost/contracts';
import { serviceModules, type Logger } from '@hookpost/platform';
import { Module, type DynamicModule } from '@nestjs/common';
import type { MatcherConfig } from './config.js';
import { SubscriptionIndexService } from './index/subscription-index.service.js';
import { EventsConsumer } from './matching/events.consumer.js';

@Module({})
export class AppModule {
  static forRoot(config: MatcherConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: serviceModules('matcher', config, logger, [
        { topic: TOPICS.canonicalEvents },
        { topic: TOPICS.subscriptionState, config: { 'cleanup.policy': 'compact' } },
        { topic: TOPICS.deliveryJobs },
      ]),
      providers: [SubscriptionIndexService, EventsConsumer],
    };
  }
}
