import { CONSUMER_GROUPS, RETRY_TOPIC_PATTERN, retryTopic, TOPICS } from '@hookpost/contracts';
import { retryDelays } from '@hookpost/domain';
import {
  CONFIG,
  KAFKA,
  LOGGER,
  ManagedConsumer,
  Readiness,
  WindowedConsumer,
  type Dispatch,
  type Logger,
} from '@hookpost/platform';
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
import { EndpointBreakers } from './breakers.js';
import { DeliveryService } from './delivery.service.js';

/**
 * Two consumers feed the same delivery path: new jobs, and the retry topics (one per
 * delay). Both keep many jobs of a partition in flight (see WindowedConsumer), so a slow
 * endpoint does not hold up the jobs queued behind its own. A retry partition whose head
 * job is not due yet is paused until it is, never slept on. Offsets are committed only
 * below the first job whose outcome Kafka has not acknowledged: a crash repeats attempts
 * (same webhook-id), never drops one.
 */
/**
 * A delay topic is read from its head, and stops at the first job not yet due: the rest
 * of the fetch is dropped and fetched again once that job falls due. With kafkajs's
 * 1 MiB per partition, every such fetch brought (and decoded) all the jobs waiting
 * behind, again and again while they waited; 64 KiB is still about forty jobs.
 */
const RETRY_FETCH_BYTES = 65_536;

@Injectable()
export class JobsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly jobs: ManagedConsumer<Dispatch>;
  private readonly retries: ManagedConsumer<Dispatch>;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    private readonly deliveries: DeliveryService,
    private readonly endpoints: EndpointView,
    private readonly client: WebhookClient,
    private readonly breakers: EndpointBreakers,
    @Inject(CONFIG) config: DelivererConfig,
    @Inject(LOGGER) logger: Logger,
    readiness: Readiness,
  ) {
    const consumer = (
      groupId: string,
      topics: string[],
      more?: { maxBytesPerPartition: number; alsoMatching: RegExp },
    ) =>
      new WindowedConsumer(
        kafka,
        {
          groupId,
          topics,
          ...more,
          fromBeginning: true,
          maxInFlightPerPartition: config.MAX_IN_FLIGHT_PER_PARTITION,
        },
        logger,
      );
    this.jobs = new ManagedConsumer(
      'delivery-jobs consumer',
      consumer(CONSUMER_GROUPS.deliverer, [TOPICS.deliveryJobs]),
      logger,
      readiness,
    );
    this.retries = new ManagedConsumer(
      'retry consumer',
      consumer(
        CONSUMER_GROUPS.delivererRetry,
        retryDelays(config.RETRY_SCHEDULE).map(retryTopic),
        // A delay dropped from RETRY_SCHEDULE leaves jobs on its topic: they are still
        // read, and sent when due; their next retry follows the new schedule.
        { maxBytesPerPartition: RETRY_FETCH_BYTES, alsoMatching: RETRY_TOPIC_PATTERN },
      ),
      logger,
      readiness,
    );
  }

  onApplicationBootstrap(): void {
    // Jobs are judged against the endpoint view: start only once it holds every subscription.
    for (const consumer of [this.jobs, this.retries]) {
      consumer.start(
        (message, windowShare, lease) => this.deliveries.dispatch(message, windowShare, lease),
        () => this.endpoints.loaded,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.jobs.stop(), this.retries.stop()]);
    // Their offsets were not committed: the partitions' next owner repeats them.
    this.deliveries.abandonInFlight();
    await this.client.close();
    this.breakers.close();
  }
}
