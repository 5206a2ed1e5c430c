import { KafkaProducer, LOGGER, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';

export interface OutboxMessage {
  topic: string;
  key: string | null;
  value: unknown;
}

const backlog = new Gauge({
  name: 'hookpost_outbox_backlog',
  help: 'Messages written to the outbox and not yet acknowledged by Kafka',
});
const oldestAge = new Gauge({
  name: 'hookpost_outbox_oldest_age_seconds',
  help: 'Age of the oldest message in the outbox, 0 when it is empty (rising: the relay is stuck)',
});

/** Any 64-bit number, the same in every replica: only one relay publishes at a time. */
const RELAY_LOCK_ID = 7_460_915_311;
const BATCH = 500;
const POLL_INTERVAL_MS = 1_000;
/**
 * How long a drain waits for another replica's relay to finish, trying the lock every
 * LOCK_RETRY_MS: that relay's batch was chosen before this replica's change committed,
 * so only this drain's next try is sure to send it.
 */
const LOCK_WAIT_MS = 2_000;
const LOCK_RETRY_MS = 20;

/** Adds messages to the outbox inside the caller's transaction. */
export async function enqueue(manager: EntityManager, messages: OutboxMessage[]): Promise<void> {
  for (const message of messages) {
    await manager.query('INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)', [
      message.topic,
      message.key,
      JSON.stringify(message.value),
    ]);
  }
}

/**
 * Carries committed changes to Kafka. A change and its outbox row commit together, so
 * a change whose Kafka send fails (broker away) is sent later, never lost. Rows are sent
 * in commit order by one relay at a time (an advisory lock across replicas), so views
 * see each subscription's versions in order; sent rows are deleted. A drain that finds
 * another replica's relay at work waits for it and then sends what is left.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly producer: KafkaProducer,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.kick(), POLL_INTERVAL_MS);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * Drains the outbox now. Callers that just committed await it, so that a change is in
   * Kafka when the API answers (the matcher sees it within a second); if Kafka is away,
   * this resolves anyway and the timer retries.
   */
  kick(): Promise<void> {
    if (this.pending) return this.running;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      if (this.stopped && !this.dataSource.isInitialized) return;
      try {
        const lockDeadline = Date.now() + LOCK_WAIT_MS;
        for (;;) {
          const outcome = await this.drainOnce();
          if (outcome === 'more') continue;
          if (outcome === 'busy' && Date.now() < lockDeadline && !this.stopped) {
            await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
            continue;
          }
          break;
        }
      } catch (error) {
        this.logger.warn({ err: error }, 'outbox relay could not publish; will retry');
        // What waits, and for how long, is what an operator needs while Kafka is away.
        await this.measure().catch(() => undefined);
      }
    });
    return this.running;
  }

  /** Drains now, waiting at most `timeoutMs` (the timer finishes the job if Kafka is slow). */
  async kickAndWait(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.kick(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private async measure(manager: EntityManager = this.dataSource.manager): Promise<void> {
    const [left] = (await manager.query(
      `SELECT count(*)::int AS count,
              coalesce(extract(epoch FROM now() - min(created_at)), 0)::float AS age
       FROM outbox`,
    )) as Array<{ count: number; age: number }>;
    backlog.set(left?.count ?? 0);
    oldestAge.set(left?.age ?? 0);
  }

  /** Sends one batch: `more` when there may be more, `busy` when another relay holds the lock. */
  private async drainOnce(): Promise<'more' | 'done' | 'busy'> {
    return this.dataSource.transaction(async (manager) => {
      const [lock] = (await manager.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [
        RELAY_LOCK_ID,
      ])) as Array<{ locked: boolean }>;
      if (!lock?.locked) return 'busy';
      const rows = (await manager.query(
        'SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1',
        [BATCH],
      )) as Array<{ id: string; topic: string; key: string | null; value: unknown }>;
      if (rows.length === 0) {
        backlog.set(0);
        oldestAge.set(0);
        return 'done';
      }
      await this.producer.send(
        rows.map((row) => ({ topic: row.topic, key: row.key, value: JSON.stringify(row.value) })),
      );
      await manager.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [
        rows.map((row) => row.id),
      ]);
      await this.measure(manager);
      return rows.length === BATCH ? 'more' : 'done';
    });
  }
}
