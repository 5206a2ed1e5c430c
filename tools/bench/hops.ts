import { randomBytes } from 'node:crypto';
// kafkajs as the services run it, with their fixes (imported first: some must be in place
// before kafkajs loads its producer).
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Kafka, logLevel } from 'kafkajs';
import { TOPICS } from '../../libs/contracts/src/topics/topics.ts';
import { percentile } from './stats.ts';

/**
 * Where the time of a delivery goes, hop by hop, for the events of benchmark runs. Every
 * message carries the time its producer stamped on it (CreateTime), so the topics
 * themselves say when each service passed an event on:
 *
 *   t0 scheduled -> mail-events -> hookpost.events.v1 -> delivery-jobs -> t3 at the receiver
 *
 * Reads each topic whole, from the beginning, once for all the runs given.
 */
export interface HopLatencies {
  /** Load generator: scheduled time to its message on `mail-events`. */
  produce: Percentiles;
  /** event-ingest: `mail-events` to `hookpost.events.v1`. */
  ingest: Percentiles;
  /** matcher: `hookpost.events.v1` to `hookpost.delivery-jobs.v1`. */
  match: Percentiles;
  /** deliverer: the job to its request's arrival at the receiver. */
  deliver: Percentiles;
}

interface Percentiles {
  p50: number;
  p99: number;
}

const SEQ = /"bench_seq":(\d+)/;

/** A run's events (sequence numbers `first` to `last`) and when each was scheduled and arrived. */
export interface HopRun {
  window: { first: number; last: number };
  times: Map<number, { t0: number; t3: number }>;
}

/** Each run's hops, in the order given. */
export async function hopLatencies(brokers: string, runs: HopRun[]): Promise<HopLatencies[]> {
  const kafka = new Kafka({
    clientId: 'bench-hops',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const seqs = {
    first: Math.min(...runs.map((run) => run.window.first)),
    last: Math.max(...runs.map((run) => run.window.last)),
  };
  const [produced, ingested, matched] = [
    await stamps(kafka, TOPICS.mailEvents, seqs),
    await stamps(kafka, TOPICS.canonicalEvents, seqs),
    await stamps(kafka, TOPICS.deliveryJobs, seqs),
  ];
  return runs.map(({ times }) => hopsOf(times, produced, ingested, matched));
}

function hopsOf(
  times: HopRun['times'],
  produced: Map<number, number>,
  ingested: Map<number, number>,
  matched: Map<number, number>,
): HopLatencies {
  const hop = (
    from: (seq: number) => number | undefined,
    to: (seq: number) => number | undefined,
  ) => {
    const spans: number[] = [];
    for (const seq of times.keys()) {
      const a = from(seq);
      const b = to(seq);
      if (a !== undefined && b !== undefined) spans.push(b - a);
    }
    spans.sort((x, y) => x - y);
    return { p50: Math.round(percentile(spans, 50)), p99: Math.round(percentile(spans, 99)) };
  };
  return {
    produce: hop(
      (s) => times.get(s)?.t0,
      (s) => produced.get(s),
    ),
    ingest: hop(
      (s) => produced.get(s),
      (s) => ingested.get(s),
    ),
    match: hop(
      (s) => ingested.get(s),
      (s) => matched.get(s),
    ),
    deliver: hop(
      (s) => matched.get(s),
      (s) => times.get(s)?.t3,
    ),
  };
}

/** The first timestamp of each benchmark event (by its sequence number) on `topic`. */
async function stamps(
  kafka: Kafka,
  topic: string,
  seqs: { first: number; last: number },
): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map(
    (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]),
  );
  await admin.disconnect();
  const out = new Map<number, number>();
  const reached = new Map<number, bigint>();
  const done = () => [...ends].every(([p, high]) => (reached.get(p) ?? 0n) >= high);
  const consumer = kafka.consumer({ groupId: `bench-hops-${randomBytes(6).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  if (done()) finish();
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const seq = Number(SEQ.exec(message.value?.toString() ?? '')?.[1] ?? -1);
        if (seq >= seqs.first && seq < seqs.last && !out.has(seq))
          out.set(seq, Number(message.timestamp));
      }
      reached.set(batch.partition, BigInt(batch.lastOffset()) + 1n);
      if (done()) finish();
    },
  });
  await finished;
  await consumer.disconnect();
  return out;
}
