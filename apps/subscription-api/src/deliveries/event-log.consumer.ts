import {
  CONSUMER_GROUPS,
  ingestedEventSchema,
  jsonWithRawField,
  TOPICS,
} from '@hookpost/contracts';
import {
  type BatchHandler,
  Coalescer,
  countPassedOver,
  decodeOrPassOver,
  GATHERED_FETCH,
  KAFKA,
  LOGGER,
  ManagedConsumer,
  Readiness,
  type IncomingMessage,
  type Logger,
} from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { DataSource } from 'typeorm';

interface EventRow {
  event_id: string;
  organization_id: string;
  message_id: string | null;
  type: string;
  occurred_at: string;
  /** The event's JSON as it came, checked against its schema but not serialised again. */
  eventJson: string;
}

/**
 * Canonical events -> `mail_events` in Postgres, a batch per statement: what
 * `GET /v1/messages/{id}/events`, replay and manual retries read. A repeated event (same
 * id) is kept once. Purged with the delivery log (DELIVERY_LOG_RETENTION).
 */
@Injectable()
export class EventLogConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumer: ManagedConsumer<BatchHandler>;
  /** Partitions' batches are handled at once: their rows go in shared statements. */
  private readonly writes = new Coalescer<EventRow>((rows) => this.write(rows));

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    private readonly dataSource: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: Readiness,
  ) {
    this.consumer = ManagedConsumer.ofBatches(
      kafka,
      'event log consumer',
      {
        groupId: CONSUMER_GROUPS.subscriptionApiEvents,
        topics: [TOPICS.canonicalEvents],
        gather: GATHERED_FETCH,
      },
      logger,
      readiness,
    );
  }

  onApplicationBootstrap(): void {
    this.consumer.start((messages) => this.handle(messages));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  private async handle(messages: IncomingMessage[]): Promise<void> {
    const rows: EventRow[] = [];
    for (const message of messages) {
      const event = decodeOrPassOver(ingestedEventSchema, message, this.logger, 'canonical event');
      if (!event) continue;
      const eventJson = message.value!.toString('utf8');
      // Test events are kept too (a test delivery can be retried); the message and replay
      // queries leave them out: they are not part of the organisation's mail history.
      rows.push({
        event_id: event.id,
        organization_id: event.organization_id,
        message_id: typeof event.data.message_id === 'string' ? event.data.message_id : null,
        type: event.type,
        occurred_at: event.occurred_at,
        eventJson,
      });
    }
    await this.writes.run(rows);
  }

  /**
   * One statement for all rows; if Postgres refuses a value in it (a data exception,
   * SQLSTATE class 22), row by row, passing over those it refuses. Event-ingest refuses
   * what it knows Postgres cannot store (NUL, unpaired surrogates, the year 0), but a
   * value missed there would otherwise fail this statement on every try, and stop the
   * event log for every organisation.
   */
  private async write(rows: EventRow[]): Promise<void> {
    try {
      await this.insert(rows);
      return;
    } catch (error) {
      if (!isDataException(error)) throw error;
    }
    for (const row of rows) {
      try {
        await this.insert([row]);
      } catch (error) {
        if (!isDataException(error)) throw error;
        countPassedOver(TOPICS.canonicalEvents, 'unstorable');
        this.logger.error(
          {
            eventId: row.event_id,
            organizationId: row.organization_id,
            code: error.code,
            reason: error.message.slice(0, 200),
          },
          'event not storable in the event log; passed over',
        );
      }
    }
  }

  private async insert(rows: EventRow[]): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO mail_events (event_id, organization_id, message_id, type, occurred_at, event)
       SELECT event_id, organization_id, message_id, type, occurred_at, event
       FROM jsonb_to_recordset($1::jsonb) AS e(event_id text, organization_id text,
         message_id text, type text, occurred_at timestamptz, event jsonb)
       ON CONFLICT (event_id) DO NOTHING`,
      [recordsetJson(rows)],
    );
  }
}

function isDataException(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('22');
}

/**
 * The rows as one JSON array for `jsonb_to_recordset`. Each event goes in as the text it
 * came in: parsing it was needed to check it, serialising it again was not (a fifth of
 * this service's busy time went to that, at 1,000 events/s).
 */
function recordsetJson(rows: EventRow[]): string {
  const records = rows.map(({ eventJson, ...columns }) =>
    jsonWithRawField(columns, 'event', eventJson),
  );
  return `[${records.join(',')}]`;
}
