import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { keyHashPartitioner, murmur2 } from './partitioner.js';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: Buffer,
) => number;

const partitions = (count: number, leaderless: number[] = []): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 1,
    replicas: [1],
    isr: [1],
  }));

describe('murmur2', () => {
  it("gives Kafka's Java client's hashes", () => {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key))).toBe(hash);
  });

  it("gives kafkajs's hashes for keys of every length up to 100 bytes", () => {
    for (let length = 0; length <= 100; length++) {
      for (let i = 0; i < 20; i++) {
        const key = randomBytes(length);
        expect(murmur2(key), key.toString('hex')).toBe(kafkajsMurmur2(key));
      }
    }
  });
});

describe('keyHashPartitioner', () => {
  it("puts keyed messages where kafkajs's default partitioner does", () => {
    const ours = keyHashPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const metadata = partitions(6, [2]);
    for (let i = 0; i < 500; i++) {
      const message = { key: `sub_${randomBytes(8).toString('hex')}`, value: null };
      const args = { topic: 't', partitionMetadata: metadata, message };
      expect(ours(args)).toBe(theirs(args));
    }
  });

  it('keeps a partition given with the message', () => {
    const partition = keyHashPartitioner();
    expect(
      partition({
        topic: 't',
        partitionMetadata: partitions(6),
        message: { key: 'k', value: null, partition: 4 },
      }),
    ).toBe(4);
  });

  it('sends keyless messages round-robin over the partitions with a leader', () => {
    const partition = keyHashPartitioner();
    const metadata = partitions(4, [1]);
    const chosen = Array.from({ length: 6 }, () =>
      partition({ topic: 't', partitionMetadata: metadata, message: { value: null } }),
    );
    expect(new Set(chosen)).toEqual(new Set([0, 2, 3]));
    expect(chosen.slice(3)).toEqual(chosen.slice(0, 3));
  });
});
