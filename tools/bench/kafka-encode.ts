import { createRequire } from 'node:module';

// First: the grouping fix must be in place before kafkajs loads its producer.
import '../../libs/platform/src/kafka/kafkajs-fixes.ts';
import { Partitioners, type ICustomPartitioner } from 'kafkajs';
import { keyHashPartitioner } from '../../libs/platform/src/kafka/partitioner.ts';

/**
 * `npm run bench:kafka-encode`: the CPU that kafkajs spends on one produce request like
 * those of the matcher at 1,000 events/s (twelve 1.5 KB messages over three partitions):
 * partitioning its messages by key, with kafkajs's partitioner and with the services'
 * (libs/platform/src/kafka/partitioner.ts), and encoding it, with kafkajs's code and with
 * the services' kafkajs fixes (libs/platform/src/kafka/kafkajs-fixes.ts); and grouping the
 * 600 messages of a large shared flush by partition, both ways. Each fix keeps kafkajs's
 * own function beside it (`kafkajs`), so that both run in this one process.
 */
const require = createRequire(import.meta.url);
type GroupFunction = (args: unknown) => Record<string, unknown[]>;
const groupMessagesPerPartition =
  require('kafkajs/src/producer/groupMessagesPerPartition.js') as GroupFunction & {
    kafkajs: GroupFunction;
  };
/** Version 3 of the produce request; 4 to 7, which a broker of today takes, are built on it. */
type ProduceFactory = (args: unknown) => unknown;
const produceV3 =
  require('kafkajs/src/protocol/requests/produce/v3/request.js') as ProduceFactory & {
    kafkajs: ProduceFactory;
  };
const encodeRequest = require('kafkajs/src/protocol/request.js') as (r: {
  correlationId: number;
  clientId: string;
  request: unknown;
}) => Promise<Buffer>;

const produceArgs = {
  transactionalId: null,
  acks: -1,
  timeout: 30_000,
  compression: 0,
  topicData: [0, 1, 2].map((partition) => ({
    topic: 'delivery-jobs',
    partitions: [
      {
        partition,
        firstSequence: 0,
        messages: Array.from({ length: 4 }, (_, i) => ({
          key: `sub_${i}`,
          value: Buffer.alloc(1_500, 'x'),
          headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
          timestamp: Date.now(),
        })),
      },
    ],
  })),
};

/** Microseconds per call of `work`, after a warm-up of a tenth as many calls. */
async function microsPer(work: (i: number) => unknown): Promise<number> {
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) await work(i);
  };
  await run(2_000);
  const started = performance.now();
  const n = 20_000;
  await run(n);
  return Math.round(((performance.now() - started) / n) * 1_000 * 10) / 10;
}

const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({
  partitionErrorCode: 0,
  partitionId,
  leader: 1,
  replicas: [1],
  isr: [1],
}));
const keyed = Array.from({ length: 12 }, (_, i) => ({
  key: `sub_2${String(i).padStart(25, 'x')}`,
  value: Buffer.alloc(1_500, 'x'),
}));
const partitioning = (create: ICustomPartitioner) => {
  const partitioner = create();
  return () =>
    groupMessagesPerPartition.kafkajs({
      topic: 'delivery-jobs',
      partitionMetadata,
      messages: keyed,
      partitioner,
    });
};
const kafkajsPartitioning = await microsPer(partitioning(Partitioners.DefaultPartitioner));
const ourPartitioning = await microsPer(partitioning(keyHashPartitioner));

const flush = Array.from({ length: 50 }, () => keyed).flat();
const grouping = (group: GroupFunction) => {
  const partitioner = keyHashPartitioner();
  return () => group({ topic: 'delivery-jobs', partitionMetadata, messages: flush, partitioner });
};
const kafkajsGrouping = await microsPer(grouping(groupMessagesPerPartition.kafkajs));
const ourGrouping = await microsPer(grouping(groupMessagesPerPartition));

const encoding = (request: unknown) => (i: number) =>
  encodeRequest({ correlationId: i, clientId: 'x', request });
const before = await microsPer(encoding(produceV3.kafkajs(produceArgs)));
const after = await microsPer(encoding(produceV3(produceArgs)));
process.stdout.write(
  [
    'kafkajs 2.2.4, a produce request of 12 keyed messages of 1.5 KB (3 partitions to encode, 6 to choose from)',
    `  partitioning by key, kafkajs's partitioner: ${kafkajsPartitioning} us per request`,
    `  partitioning by key, keyHashPartitioner:   ${ourPartitioning} us per request`,
    `  encoding, unfixed: ${before} us per request`,
    `  encoding, fixed:   ${after} us per request`,
    `a flush of ${flush.length} messages grouped by partition (keyHashPartitioner)`,
    `  kafkajs's grouping: ${kafkajsGrouping} us per flush`,
    `  fixed grouping:     ${ourGrouping} us per flush`,
  ].join('\n') + '\n',
);
