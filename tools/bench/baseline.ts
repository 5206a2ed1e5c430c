// kafkajs as the services run it: with their fixes to it (imported first: some must be in
// place before kafkajs loads its producer) and their sockets (no Nagle delay).
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Kafka, logLevel } from 'kafkajs';
import { socketFactory } from '../../libs/platform/src/kafka/socket.ts';
import { Agent, request } from 'undici';

/**
 * The limits the pipeline is measured against, each in a process of its own with the
 * same clients the services use (kafkajs, undici):
 *
 *   minimal  consumes the delivery-jobs topic, POSTs each job to the receiver, commits:
 *            a deliverer with nothing else (no matching, signing, breakers, logging)
 *   http     undici alone POSTing 1 KB to the receiver, 256 requests in flight
 *   consume  kafkajs alone reading the delivery-jobs topic
 *   hop      one Kafka hop's latency: kafkajs producing 250 messages/s, one per send, to
 *            a topic of its own and consuming them (what each of the pipeline's three
 *            hops costs at least)
 *
 * Usage: node baseline.ts <mode> <brokers> <topic> <receiver url> <seconds>
 * Reports { count, seconds } over IPC ({ p50, p99 } in ms for hop).
 */
const [mode, brokers, topic, receiverUrl, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const CONCURRENCY = 256;
const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });

async function post(body: Buffer | string): Promise<void> {
  const response = await request(`${receiverUrl}/ok/baseline`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body,
  });
  await response.body.dump();
}

async function http(): Promise<number> {
  const body = JSON.stringify({ bench_seq: 0, bench_t0: 0, pad: 'x'.repeat(1_000) });
  const until = performance.now() + seconds * 1_000;
  let count = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await post(body);
        count++;
      }
    }),
  );
  return count;
}

async function consume(postEach: boolean): Promise<number> {
  const kafka = new Kafka({
    clientId: 'bench-baseline',
    socketFactory,
    brokers: brokers!.split(','),
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({
    groupId: `bench-baseline-${mode}-${process.pid}`,
    maxWaitTimeInMs: 50,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: topic!, fromBeginning: true });
  let count = 0;
  let started = 0;
  let lastAt = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }) => {
      if (started === 0) {
        started = performance.now();
        setTimeout(done, seconds * 1_000);
      }
      if (postEach) {
        // The batch's POSTs in flight together, bounded, then one commit for the batch.
        const messages = batch.messages;
        for (let i = 0; i < messages.length; i += CONCURRENCY) {
          await Promise.all(messages.slice(i, i + CONCURRENCY).map((m) => post(m.value!)));
        }
      }
      count += batch.messages.length;
      lastAt = performance.now();
      resolveOffset(batch.messages.at(-1)!.offset);
      await commitOffsetsIfNecessary({
        topics: [
          {
            topic: batch.topic,
            partitions: [
              { partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) },
            ],
          },
        ],
      });
      await heartbeat();
    },
  });
  await finished;
  // The rate while there was work: the topic may run dry before the time is up.
  const rate = count / ((lastAt - started) / 1_000);
  await consumer.disconnect();
  return Math.round(rate * seconds);
}

async function hop(): Promise<{ p50: number; p99: number }> {
  const kafka = new Kafka({
    clientId: 'bench-hop',
    socketFactory,
    brokers: brokers!.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const hopTopic = `bench.hop.${process.pid}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: hopTopic, numPartitions: 6 }],
  });
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: hopTopic, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic: hopTopic, fromBeginning: true });
  const latencies: number[] = [];
  await consumer.run({
    // kafkajs's auto-commit commits after each batch, before the next fetch: a round trip
    // on every hop (~10 ms here) that the services, committing in the background, do not make.
    autoCommit: false,
    partitionsConsumedConcurrently: 16,
    eachBatch: async ({ batch }) => {
      const at = performance.timeOrigin + performance.now();
      for (const m of batch.messages) latencies.push(at - Number(m.value!.toString()));
    },
  });
  const until = performance.now() + seconds * 1_000;
  for (let i = 0; performance.now() < until; i++) {
    const sentAt = performance.timeOrigin + performance.now();
    await producer.send({ topic: hopTopic, messages: [{ key: String(i), value: String(sentAt) }] });
    await new Promise((resolve) => setTimeout(resolve, 4));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await consumer.disconnect();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [hopTopic] });
  await admin.disconnect();
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round(latencies[Math.floor(p * (latencies.length - 1))]! * 10) / 10;
  return { p50: at(0.5), p99: at(0.99) };
}

if (mode === 'hop') process.send!(await hop());
else {
  const count = mode === 'http' ? await http() : await consume(mode === 'minimal');
  process.send!({ count, seconds });
}
await agent.close();
process.exit(0);
