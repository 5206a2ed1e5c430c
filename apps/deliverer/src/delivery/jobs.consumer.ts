import { CONSUMER_GROUPS, retryTopic, TOPICS } from '@hookpost/contracts';
import { retryDelays } from '@hookpost/domain';
import { CONFIG, KAFKA, LOGGER, ManagedConsumer, Readiness, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { DelivererConfig } from '../config.js';
import { EndpointView } from '../endpoints/endpoint-view.js';
import { WebhookClient } from '../http/webhook-client.js';
import { DeliveryService } from './delivery.service.js';

/**
 * Two consumers feed the same delivery path: new jobs, and the retry topics (one per
 * delay). A retry partition whose head job is not due yet is paused until it is, never
 * slept on. Offsets are committed only after a batch's outcomes are acknowledged by
 * Kafka: a crash repeats attempts (same webhook-id), never drops one.
 */
@Injectable()
export class JobsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly jobs: ManagedConsumer;
  private readonly retries: ManagedConsumer;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    private readonly deliveries: DeliveryService,
    private readonly endpoints: EndpointView,
    private readonly client: WebhookClient,
    @Inject(CONFIG) config: DelivererConfig,
    @Inject(LOGGER) logger: Logger,
    readiness: Readiness,
  ) {
    this.jobs = new ManagedConsumer(
      kafka,
      {
        name: 'delivery-jobs consumer',
        groupId: CONSUMER_GROUPS.deliverer,
        topics: [TOPICS.deliveryJobs],
        fromBeginning: true,
        partitionsConsumedConcurrently: 8,
      },
      logger,
      readiness,
    );
    this.retries = new ManagedConsumer(
      kafka,
      {
        name: 'retry consumer',
        groupId: CONSUMER_GROUPS.delivererRetry,
        topics: retryDelays(config.RETRY_SCHEDULE).map(retryTopic),
        fromBeginning: true,
        partitionsConsumedConcurrently: 8,
      },
      logger,
      readiness,
    );
  }

  onApplicationBootstrap(): void {
    // Jobs are judged against the endpoint view: start only once it holds every subscription.
    for (const consumer of [this.jobs, this.retries]) {
      consumer.start(
        (messages, context) => this.deliveries.deliverDue(messages, context.heartbeat),
        () => this.endpoints.loaded,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.jobs.stop(), this.retries.stop()]);
    await this.client.close();
  }
}
