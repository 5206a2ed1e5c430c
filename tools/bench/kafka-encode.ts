import { createRequire } from 'node:module';

/**
 * `npm run bench:kafka-encode`: the CPU that kafkajs spends encoding one produce request
 * like those of the matcher at 1,000 events/s (three partitions, four 1.5 KB messages
 * each), before and after the services' kafkajs fixes (libs/platform/src/kafka/
 * kafkajs-fixes.ts). Both in this process, the unfixed first: the fixes cannot be undone.
 */
const require = createRequire(import.meta.url);
const produce = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol(v: { version: number }): (data: unknown) => { request: unknown };
};
const encodeRequest = require('kafkajs/src/protocol/request.js') as (r: {
  correlationId: number;
  clientId: string;
  request: unknown;
}) => Promise<Buffer>;

const { request } = produce.protocol({ version: 7 })({
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
});

async function microsPerRequest(): Promise<number> {
  const encode = async (n: number) => {
    for (let i = 0; i < n; i++) await encodeRequest({ correlationId: i, clientId: 'x', request });
  };
  await encode(2_000);
  const started = performance.now();
  const n = 20_000;
  await encode(n);
  return Math.round(((performance.now() - started) / n) * 1_000 * 10) / 10;
}

const before = await microsPerRequest();
await import('../../libs/platform/src/kafka/kafkajs-fixes.ts');
const after = await microsPerRequest();
process.stdout.write(
  [
    'kafkajs 2.2.4, a produce request of 3 partitions x 4 messages of 1.5 KB',
    `  encoding, unfixed: ${before} us per request`,
    `  encoding, fixed:   ${after} us per request`,
  ].join('\n') + '\n',
);
