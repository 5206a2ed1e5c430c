import { randomInt } from 'node:crypto';
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/**
 * Kafka's murmur2 hash of a message key, as the Java client computes it
 * (`org.apache.kafka.common.utils.Utils.murmur2`): 32-bit integer arithmetic, so a key
 * lands on the same partition whichever client produced it.
 *
 * kafkajs computes the same hash with 64-bit `Long` objects, several allocated per four
 * bytes of key: at 1,000 events/s that was a tenth of the deliverer's allocations and
 * 3.7% of the matcher's busy time (heap and CPU profiles of the pipeline benchmark).
 * `Math.imul` is the 32-bit multiplication Java's `int` does.
 */
export function murmur2(key: Buffer): number {
  const m = 0x5bd1e995;
  const length = key.length;
  let h = 0x9747b28c ^ length;
  const whole = length - (length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last one to three bytes, as Java's switch that falls through its cases.
  const rest = length - whole;
  if (rest === 3) h ^= key[whole + 2]! << 16;
  if (rest >= 2) h ^= key[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= key[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partitioner of Kafka's Java client (and of kafkajs's `DefaultPartitioner`): a given
 * partition as given, a keyed message by the murmur2 hash of its key over all partitions,
 * a message without a key round-robin over the partitions that have a leader.
 */
export const keyHashPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    if (message.key !== undefined && message.key !== null) {
      const key = typeof message.key === 'string' ? Buffer.from(message.key) : message.key;
      return (murmur2(key) & 0x7fffffff) % partitionMetadata.length;
    }
    // Each producer starts its round at a random partition, so that many producers'
    // keyless messages spread instead of all starting on partition 0.
    const next = (counters.get(topic) ?? randomInt(2 ** 31)) + 1;
    counters.set(topic, next & 0x7fffffff);
    const led = partitionMetadata.filter((p) => p.leader >= 0);
    if (led.length === 0) return next % partitionMetadata.length;
    return led[next % led.length]!.partitionId;
  };
};
