import { TOPICS } from '@hookpost/contracts';
import { serviceModules, type Logger } from '@hookpost/platform';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { AdminGuard, ApiKeyGuard } from './auth/guards.js';
import type { ApiConfig } from './config.js';
import { DatabaseModule } from './database/database.module.js';
import { AttemptsConsumer } from './deliveries/attempts.consumer.js';
import { DeliveryLog } from './deliveries/delivery-log.js';
import { DeliveryLogRetention } from './deliveries/retention.js';
import { EventLogConsumer } from './deliveries/event-log.consumer.js';
import { RedeliveryService } from './deliveries/redelivery.service.js';
import { ReplayLocks } from './deliveries/replay-locks.js';
import { MessagesController } from './messages/messages.controller.js';
import { MessagesService } from './messages/messages.service.js';
import { EventTypesController } from './event-types/event-types.controller.js';
import { DeliveryFence } from './event-store/delivery-fence.js';
import { OutboxRelay } from './event-store/outbox.js';
import { SubscriptionStore } from './event-store/subscription-store.js';
import { GrpcServer } from './grpc/grpc.server.js';
import { ErrorFilter } from './http/error.filter.js';
import { OrganizationsController } from './organizations/organizations.controller.js';
import { OrganizationsService } from './organizations/organizations.service.js';
import { IdempotencyInterceptor, IdempotencyKeys } from './idempotency/idempotency-keys.js';
import { RateLimitInterceptor, RateLimits } from './rate-limits/rate-limits.js';
import { securityProviders } from './security.js';
import { WebhooksController } from './webhooks/webhooks.controller.js';
import { WebhooksService } from './webhooks/webhooks.service.js';

@Module({})
export class AppModule {
  static forRoot(config: ApiConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ...serviceModules('subscription-api', config, logger, [
          { topic: TOPICS.subscriptionEvents },
          { topic: TOPICS.subscriptionState, config: { 'cleanup.policy': 'compact' } },
          { topic: TOPICS.organizationEvents, config: { 'cleanup.policy': 'compact' } },
          { topic: TOPICS.deliveryAttempts },
          { topic: TOPICS.canonicalEvents },
          { topic: TOPICS.deliveryJobs },
        ]),
        DatabaseModule,
      ],
      controllers: [
        OrganizationsController,
        WebhooksController,
        EventTypesController,
        MessagesController,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        // In this order: a call is counted, then answered again for its idempotency key.
        { provide: APP_INTERCEPTOR, useClass: RateLimitInterceptor },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        RateLimits,
        IdempotencyKeys,
        ...securityProviders,
        AdminGuard,
        ApiKeyGuard,
        OutboxRelay,
        DeliveryFence,
        SubscriptionStore,
        OrganizationsService,
        WebhooksService,
        DeliveryLog,
        AttemptsConsumer,
        DeliveryLogRetention,
        EventLogConsumer,
        RedeliveryService,
        ReplayLocks,
        MessagesService,
        GrpcServer,
      ],
    };
  }
}
