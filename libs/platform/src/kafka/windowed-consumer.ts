import type { Consumer, ConsumerRunConfig, Kafka } from 'kafkajs';
import type { Logger } from '../logging/logger.js';
import {
  leaveGroup,
  logGroupJoin,
  onConsumerCrash,
  forgetLag,
  reportLag,
  retriable,
  toIncoming,
  type IncomingMessage,
} from './kafka.js';
import { groupLagWatcher, type GroupLagWatcher } from './group-lag.js';
import { OffsetWindow } from './offset-window.js';

/**
 * What to do with one message: start work on it (the promise settles when the work and
 * everything it produced are done), or leave it and the rest of its partition until
 * `notBefore` (ms since the epoch), because it is not due yet. `windowShare` is how much
 * of its partition's window is in flight as it is handed over (0 to 1): work that would
 * only wait can be put elsewhere before the window fills and fetching stops. `lease` says
 * whether the work's outcome can still be committed.
 */
export type Dispatch = (
  message: IncomingMessage,
  windowShare: number,
  lease: Lease,
) => Promise<void> | { notBefore: number };

/**
 * Whether a message's outcome can still be committed. It lapses when its partition's
 * window does: as a rebalance starts, after a failed message (the partition is fetched
 * again from its lowest unfinished offset), and at this consumer's final commit as it
 * stops.
 * The message is then repeated, from the last commit, by whoever holds the partition:
 * work that finishes after that should leave what follows from it to the repeat.
 */
export interface Lease {
  readonly live: boolean;
}

export interface WindowedConsumerOptions {
  groupId: string;
  topics: string[];
  /**
   * Topics of the cluster whose names match are read too, as found at each start: the
   * retry topics of delays no longer in the schedule, whose jobs still fall due.
   */
  alsoMatching?: RegExp;
  fromBeginning: boolean;
  /** Messages of one partition in flight at once; fetching that partition waits beyond it. */
  maxInFlightPerPartition: number;
  /** How often finished work is committed. */
  commitIntervalMs?: number;
  /** Bytes fetched per partition at most (kafkajs's default: 1 MiB). */
  maxBytesPerPartition?: number;
  sessionTimeoutMs?: number;
}

interface PartitionState extends Lease {
  topic: string;
  partition: number;
  window: OffsetWindow;
  committed: bigint | undefined;
  live: boolean;
}

/**
 * Consumes with many messages of a partition in flight at once, so one slow message does
 * not hold up the ones behind it. Each message is resolved (fetching moves on) as soon as
 * its work starts, and the partition is committed on a timer, only below its lowest
 * unfinished message: a crash repeats work, never skips it. Heartbeats go on while the
 * handler waits for room in a full window.
 *
 * After a rebalance kafkajs fetches from the committed offsets again, so every partition
 * starts a fresh window and late finishes of the old one are ignored: work in flight at
 * that moment is repeated, which at-least-once allows, and its lease (`Lease`) tells it.
 * What finished before is committed as the rebalance starts, so that it is not repeated.
 */
export class WindowedConsumer {
  private readonly consumer: Consumer;
  private readonly partitions = new Map<string, PartitionState>();
  private joined = false;
  private crashed = false;
  private stopping = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private run: ConsumerRunConfig | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly groupLag: GroupLagWatcher;
  /** What this consumer reads: `topics`, and those `alsoMatching` found at its start. */
  private topics: string[];

  constructor(
    private readonly kafka: Kafka,
    private readonly options: WindowedConsumerOptions,
    private readonly logger: Logger,
  ) {
    this.topics = options.topics;
    this.groupLag = groupLagWatcher(kafka, logger);
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      // A partition resumed for a retry that is due joins the next fetch, so this bounds how
      // late a retry can be when nothing else arrives; shorter only adds idle polling.
      maxWaitTimeInMs: 200,
      ...(options.maxBytesPerPartition
        ? { maxBytesPerPartition: options.maxBytesPerPartition }
        : {}),
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.REBALANCING, () => {
      // This member learnt that the group is rebalancing, and rejoins: its partitions may
      // go to another member, which starts from their commits. What finished is committed
      // now, while the coordinator still takes this member's commits (it does until every
      // member has rejoined; kafkajs has no hook before that, nor commits by itself when
      // autoCommit is off). Uncommitted, it would be repeated: a delivery that failed
      // would start a second retry chain. The windows lapse here, not at the join: work
      // that finishes from now on is repeated by the next owner anyway.
      const due = this.commitsDue();
      this.dropWindows();
      void this.sendCommits(due);
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      logGroupJoin(this.logger, event.payload);
      this.joined = true;
      this.crashed = false;
      this.dropWindows();
      forgetLag(options.groupId, event.payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.crashed = !event.payload.restart;
      this.dropWindows();
      forgetLag(options.groupId);
      onConsumerCrash(this.logger, options.groupId, event.payload, async () => {
        if (!this.stopping && this.run) await this.consumer.run(this.run);
      });
    });
    this.consumer.on(this.consumer.events.STOP, () => {
      this.joined = false;
      forgetLag(options.groupId);
    });
  }

  get isReady(): boolean {
    return this.joined && !this.crashed;
  }

  /** Work started and not finished, across partitions. */
  get inFlight(): number {
    return this.pending.size;
  }

  async start(dispatch: Dispatch): Promise<void> {
    this.topics = await this.topicsToRead();
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: this.topics,
      fromBeginning: this.options.fromBeginning,
    });
    this.commitTimer = setInterval(
      () => void this.commit(),
      this.options.commitIntervalMs ?? 200,
    ).unref();
    this.run = {
      autoCommit: false,
      eachBatchAutoResolve: false,
      // The partitions of one fetch are handled side by side.
      partitionsConsumedConcurrently: 16,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }) => {
        const state = this.partitionState(batch.topic, batch.partition);
        // Lag is reported when the batch is done or waits, not per message (a gauge update
        // hashes its labels: as costly as the rest of the loop).
        let next: bigint | undefined;
        const report = () => {
          if (next !== undefined)
            reportLag(
              this.options.groupId,
              batch.topic,
              batch.partition,
              batch.highWatermark,
              next,
            );
        };
        for (const raw of batch.messages) {
          if (this.stopping || !isRunning() || isStale()) return;
          if (state.window.inFlight >= this.options.maxInFlightPerPartition) {
            // Full: the partition waits for room paused, and is fetched again from here.
            // Waiting in the handler would hold up every partition its broker leads:
            // kafkajs fetches from a broker again only once a fetch's batches are done.
            report();
            const resume = pause();
            void this.roomIn(state).then(() => {
              try {
                resume();
              } catch {
                // Stopped meanwhile: the next consumer of the partition starts from the commit.
              }
            });
            return;
          }
          const message = toIncoming(batch.topic, batch.partition, raw);
          let outcome: ReturnType<Dispatch>;
          try {
            outcome = dispatch(
              message,
              state.window.inFlight / this.options.maxInFlightPerPartition,
              state,
            );
          } catch (error) {
            throw retriable(error);
          }
          if (!(outcome instanceof Promise)) {
            // Not due: stop here and fetch this message again when it is.
            const resume = pause();
            setTimeout(resume, Math.max(0, outcome.notBefore - Date.now())).unref();
            break;
          }
          this.track(state, BigInt(message.offset), outcome);
          resolveOffset(raw.offset);
          next = BigInt(raw.offset) + 1n;
        }
        report();
        await heartbeat();
      },
    };
    await this.consumer.run(this.run);
    this.groupLag.watch(this.options.groupId, this.topics);
  }

  /**
   * Settles once `state`'s window is half empty, or gone, or this consumer stops. Half, not
   * one slot: each resume fetches the partition again, and a fetch that could start one
   * message before the window was full again would be fetched and decoded for nothing.
   */
  private async roomIn(state: PartitionState): Promise<void> {
    while (
      state.window.inFlight > this.options.maxInFlightPerPartition / 2 &&
      state.live &&
      !this.stopping
    )
      await state.window.changed(3_000);
  }

  private async topicsToRead(): Promise<string[]> {
    const pattern = this.options.alsoMatching;
    if (!pattern) return this.options.topics;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const found = (await admin.listTopics()).filter((topic) => pattern.test(topic));
      const extra = found.filter((topic) => !this.options.topics.includes(topic));
      if (extra.length > 0)
        this.logger.info({ topics: extra }, 'reading topics beside the configured ones');
      return [...this.options.topics, ...extra.sort()];
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Stops fetching, gives work in flight until `graceMs` to finish, commits what finished,
   * and leaves the group. Work still unfinished is not committed: it is repeated by
   * whichever consumer gets the partition next.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.joined) {
      this.consumer.pause(this.topics.map((topic) => ({ topic })));
      const deadline = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([Promise.allSettled([...this.pending]), deadline]);
      await this.commit();
      // What finishes from here on is not committed by this consumer.
      this.dropWindows();
    }
    clearInterval(this.commitTimer);
    await this.groupLag.unwatch(this.options.groupId);
    await leaveGroup(this.consumer, this.options.groupId, this.logger);
  }

  private partitionState(topic: string, partition: number): PartitionState {
    const key = `${topic}\u0000${partition}`;
    let state = this.partitions.get(key);
    if (!state) {
      state = { topic, partition, window: new OffsetWindow(), committed: undefined, live: true };
      this.partitions.set(key, state);
    }
    return state;
  }

  /** Every window lapses: their partitions are fetched again from their commits. */
  private dropWindows(): void {
    for (const state of this.partitions.values()) state.live = false;
    this.partitions.clear();
  }

  private track(state: PartitionState, offset: bigint, work: Promise<void>): void {
    state.window.add(offset);
    const done = work.then(
      () => state.window.finish(offset),
      (error: unknown) => {
        // The work could not be completed (e.g. its results could not be produced): leave the
        // offset unfinished so it is never committed past, and fetch it again.
        this.logger.error(
          { err: error, topic: state.topic, partition: state.partition, offset: String(offset) },
          'message handling failed; it will be retried',
        );
        const key = `${state.topic}\u0000${state.partition}`;
        // A window that was already replaced (after an earlier failure or a rebalance) is
        // covered by its successor, which starts at or before every offset it left
        // unfinished: dropping or seeking again would lose the successor's place.
        if (this.partitions.get(key) !== state) return;
        this.partitions.delete(key);
        state.live = false;
        if (!this.stopping) {
          try {
            // From the lowest offset still unfinished, not the failed one: work below it
            // may still be in flight, and the new window must not commit past it.
            this.consumer.seek({
              topic: state.topic,
              partition: state.partition,
              offset: String(state.window.commitPoint() ?? offset),
            });
          } catch {
            // Not running any more: the next consumer of the partition starts from the commit.
          }
        }
      },
    );
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  private commit(): Promise<void> {
    return this.sendCommits(this.commitsDue());
  }

  /** Each window's commit point that is past what was committed of it. */
  private commitsDue(): Array<[PartitionState, bigint]> {
    const due: Array<[PartitionState, bigint]> = [];
    for (const state of this.partitions.values()) {
      const point = state.window.commitPoint();
      if (point !== undefined && (state.committed === undefined || point > state.committed))
        due.push([state, point]);
    }
    return due;
  }

  private async sendCommits(due: Array<[PartitionState, bigint]>): Promise<void> {
    if (due.length === 0) return;
    try {
      await this.consumer.commitOffsets(
        due.map(([state, point]) => ({
          topic: state.topic,
          partition: state.partition,
          offset: String(point),
        })),
      );
      for (const [state, point] of due) state.committed = point;
    } catch (error) {
      // Retried on the next tick; a rebalance in between starts fresh windows anyway.
      this.logger.warn({ err: error, groupId: this.options.groupId }, 'offset commit failed');
    }
  }
}
