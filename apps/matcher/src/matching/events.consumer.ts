import {
  CONSUMER_GROUPS,
  deriveId,
  HEADERS,
  ingestedEventSchema,
  jsonWithRawField,
  TOPICS,
  type DeliveryJob,
} from '@hookpost/contracts';
import {
  ManagedConsumer,
  type BatchHandler,
  KAFKA,
  TRACING,
  type TraceSpan,
  type Tracing,
  CoalescingProducer,
  decodeOrPassOver,
  KafkaProducer,
  LOGGER,
  Readiness,
  type IncomingMessage,
  type Logger,
  type OutgoingMessage,
} from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { Counter } from 'prom-client';
import { SubscriptionIndexService } from '../index/subscription-index.service.js';

const jobsProduced = new Counter({
  name: 'hookpost_matcher_jobs_total',
  help: 'Delivery jobs produced',
});
const eventsMatched = new Counter({
  name: 'hookpost_matcher_events_total',
  help: 'Canonical events matched, by whether any subscription wanted them',
  labelNames: ['matched'],
});

/**
 * canonical events -> one delivery job per matching subscription, keyed by subscription
 * id so that one subscription's jobs keep their order. A batch's jobs are acknowledged
 * by Kafka before its offsets are committed.
 */
@Injectable()
export class EventsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumer: ManagedConsumer<BatchHandler>;
  /** Partitions' batches are handled at once: their output leaves in shared requests. */
  private readonly out: CoalescingProducer;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    producer: KafkaProducer,
    private readonly index: SubscriptionIndexService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TRACING) private readonly tracing: Tracing,
    readiness: Readiness,
  ) {
    this.out = new CoalescingProducer(producer);
    this.consumer = ManagedConsumer.ofBatches(
      kafka,
      'events consumer',
      {
        groupId: CONSUMER_GROUPS.matcher,
        topics: [TOPICS.canonicalEvents],
        // Each partition's batch becomes 1-2 times its size in delivery jobs, all partitions
        // at once: smaller fetches keep the matcher's peak memory down at no cost in rate
        // (bench:matcher draining 100,000 events: 261-270 MB peak at 256 KiB, 226-232 at 128).
        maxBytesPerPartition: 131_072,
      },
      logger,
      readiness,
    );
  }

  onApplicationBootstrap(): void {
    // Matching starts only once the index holds every subscription.
    this.consumer.start(
      (messages) => this.handle(messages),
      () => this.index.loaded,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  private async handle(messages: IncomingMessage[]): Promise<void> {
    const out: OutgoingMessage[] = [];
    const spans: TraceSpan[] = [];
    for (const message of messages) {
      // Only event-ingest and the API (test events) write this topic, both through this
      // schema: an undecodable event is a bug, not input.
      const event = decodeOrPassOver(ingestedEventSchema, message, this.logger, 'canonical event');
      if (!event) continue;
      const matches = this.index.match(event);
      // Each job carries the event as it came: checked above, not serialised again per job.
      const eventJson = matches.length > 0 ? message.value!.toString('utf8') : '';
      const span = this.tracing.start('match', message.headers[HEADERS.traceparent], {
        'hookpost.event_id': event.id,
        'hookpost.matches': matches.length,
      });
      spans.push(span);
      const headers = span.traceparent ? { [HEADERS.traceparent]: span.traceparent } : undefined;
      eventsMatched.inc({ matched: matches.length > 0 ? 'yes' : 'no' });
      for (const subscription of matches) {
        const job: Omit<DeliveryJob, 'event'> = {
          deliveryId: deriveId('delivery', event.id, subscription.id),
          subscriptionId: subscription.id,
          organizationId: subscription.organizationId,
          subscriptionVersion: subscription.version,
          attempt: 1,
        };
        out.push({
          topic: TOPICS.deliveryJobs,
          key: subscription.id,
          value: Buffer.from(jsonWithRawField(job, 'event', eventJson), 'utf8'),
          headers,
        });
      }
    }
    await this.out.send(out);
    for (const span of spans) span.end();
    jobsProduced.inc(out.length);
  }
}
