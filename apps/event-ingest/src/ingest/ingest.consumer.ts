import { CONSUMER_GROUPS, encodeJson, HEADERS, TOPICS } from '@hookpost/contracts';
import {
  ManagedConsumer,
  type BatchHandler,
  TRACING,
  type TraceSpan,
  type Tracing,
  CONFIG,
  KAFKA,
  batchBytesOf,
  CoalescingProducer,
  DEFAULT_MAX_MESSAGE_BYTES,
  topicMessageLimit,
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
import type { IngestConfig } from '../config.js';
import { DedupeStore } from '../dedupe/dedupe.store.js';
import { deadLetter } from './dead-letter.js';
import { normalizeBatch } from '../normalize/normalize.js';
import { OrganizationDirectoryService } from '../organizations/organization-directory.js';

const ingested = new Counter({
  name: 'hookpost_ingest_events_total',
  help: 'Raw mail events accepted, by source format',
  labelNames: ['format'],
});
const duplicates = new Counter({
  name: 'hookpost_ingest_duplicates_total',
  help: 'Raw mail events dropped as copies of an event already ingested',
});
const rejected = new Counter({
  name: 'hookpost_ingest_rejects_total',
  help: 'Raw mail events sent to the dead-letter topic, by reason',
  labelNames: ['reason'],
});

/**
 * mail-events -> canonical events, or the dead-letter topic; copies of an event already
 * ingested are dropped (DedupeStore). A batch's output is sent
 * (and acknowledged) before its offsets are committed, so a crash repeats work but
 * never loses it; a bad message is dead-lettered and never stops the batch.
 */
@Injectable()
export class IngestConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumer: ManagedConsumer<BatchHandler>;
  /** Partitions' batches are handled at once: their output leaves in shared requests. */
  private readonly out: CoalescingProducer;
  /** The dead-letter topic's max.message.bytes: every dead letter is made to fit it. */
  private deadLetterLimit = DEFAULT_MAX_MESSAGE_BYTES;
  /**
   * The canonical topic's: an event over it would be refused by the broker on every try,
   * and hold up every partition whose output shares the request. It is dead-lettered.
   */
  private canonicalLimit = DEFAULT_MAX_MESSAGE_BYTES;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    producer: KafkaProducer,
    private readonly directory: OrganizationDirectoryService,
    private readonly dedupe: DedupeStore,
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TRACING) private readonly tracing: Tracing,
    readiness: Readiness,
  ) {
    this.out = new CoalescingProducer(producer);
    this.consumer = ManagedConsumer.ofBatches(
      kafka,
      'mail-events consumer',
      { groupId: CONSUMER_GROUPS.eventIngest, topics: [TOPICS.mailEvents] },
      logger,
      readiness,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    [this.deadLetterLimit, this.canonicalLimit] = await Promise.all([
      topicMessageLimit(this.kafka, TOPICS.mailEventsDeadLetter, this.logger),
      topicMessageLimit(this.kafka, TOPICS.canonicalEvents, this.logger),
    ]);
    // Tenancy is judged against the directory: start only once it holds every organisation.
    this.consumer.start(
      (messages) => this.handle(messages),
      () => this.directory.loaded,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  private async handle(messages: IncomingMessage[]): Promise<void> {
    const options = {
      maxBytes: this.config.MAX_EVENT_BYTES,
      now: () => new Date(),
      organizations: this.directory,
    };
    const results = await normalizeBatch(
      messages.map((message) => ({
        value: message.value,
        organizationHeader: message.headers[HEADERS.organizationId],
      })),
      options,
      () => this.directory.catchUp(),
    );
    // Copies of events already ingested (within DEDUPE_WINDOW) go no further.
    const accepted = results.flatMap((r, index) => (r.ok ? [{ event: r.event, index }] : []));
    const copies = await this.dedupe.duplicates(
      accepted.map(({ event, index }) => ({
        eventId: event.id,
        topic: messages[index]!.topic,
        partition: messages[index]!.partition,
        offset: messages[index]!.offset,
      })),
    );
    const dropped = new Set([...copies].map((i) => accepted[i]!.index));
    duplicates.inc(dropped.size);

    const out: OutgoingMessage[] = [];
    const spans: TraceSpan[] = [];
    results.forEach((normalized, index) => {
      const message = messages[index]!;
      if (dropped.has(index)) return;
      let result = normalized;
      if (result.ok) {
        const { event } = result;
        const canonical: OutgoingMessage = {
          topic: TOPICS.canonicalEvents,
          // Per-email order: every event of one message lands on one partition.
          key: typeof event.data.message_id === 'string' ? event.data.message_id : event.id,
          value: encodeJson(event),
        };
        // Within MAX_EVENT_BYTES, an event can still outgrow the topic: invalid UTF-8
        // turns one byte into three, and the topic's limit may be set lower.
        const bytes = batchBytesOf(canonical);
        if (bytes <= this.canonicalLimit) {
          const span = this.tracing.start('ingest', message.headers[HEADERS.traceparent], {
            'hookpost.event_id': event.id,
            'hookpost.event_type': event.type,
            'hookpost.organization_id': event.organization_id,
          });
          spans.push(span);
          // (Its few bytes fit in the room batchBytesOf leaves.)
          const headers = span.traceparent
            ? { [HEADERS.traceparent]: span.traceparent }
            : undefined;
          out.push({ ...canonical, headers });
          ingested.inc({ format: event.source.format });
          return;
        }
        result = {
          ok: false,
          reason: 'too_large',
          detail: `the canonical event would take ${bytes} bytes, over the ${this.canonicalLimit} that ${TOPICS.canonicalEvents} takes (max.message.bytes)`,
        };
      }
      out.push(deadLetter(message, result.reason, result.detail, this.deadLetterLimit));
      rejected.inc({ reason: result.reason });
      this.logger.warn(
        {
          reason: result.reason,
          detail: result.detail,
          partition: message.partition,
          offset: message.offset,
        },
        'rejected mail event',
      );
    });
    await this.out.send(out);
    for (const span of spans) span.end();
  }
}
