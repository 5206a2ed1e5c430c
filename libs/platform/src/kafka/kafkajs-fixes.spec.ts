import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import './kafkajs-fixes.js';

interface Encoder {
  writeInt32(value: number): Encoder;
  writeVarInt(value: number): Encoder;
  writeUVarInt(value: number): Encoder;
  writeVarLong(value: number | string): Encoder;
  writeString(value: string): Encoder;
  writeBytes(value: Buffer): Encoder;
  writeEncoder(value: Encoder): Encoder;
  readonly buf: Buffer;
  readonly buffer: Buffer;
}
const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as (new () => Encoder) & {
  sizeOfVarLong(value: number | string): number;
};
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => {
  readInt32(): number;
  readString(): string;
  readBytes(): Buffer;
  readVarInt(): number;
  readUVarInt(): number;
  readVarLong(): { toString(): string };
};

describe('kafkajs encoder that grows into unfilled buffers', () => {
  it('hands out exactly what was written, across many growths', () => {
    // Garbage in Node's pool: a grown buffer that kept any of it would show it.
    for (let i = 0; i < 64; i++) Buffer.allocUnsafe(1_000).fill(0xee);
    const blobs = Array.from({ length: 20 }, (_, i) => randomBytes(100 * i + 7));
    const inner = new Encoder();
    blobs.forEach((blob, i) => inner.writeInt32(i).writeString(`field ${i}`).writeBytes(blob));
    const outer = new Encoder().writeInt32(blobs.length).writeEncoder(inner);

    const decoder = new Decoder(outer.buffer);
    expect(decoder.readInt32()).toBe(blobs.length);
    blobs.forEach((blob, i) => {
      expect(decoder.readInt32()).toBe(i);
      expect(decoder.readString()).toBe(`field ${i}`);
      expect(decoder.readBytes().equals(blob)).toBe(true);
    });
    const expectedLength =
      4 + blobs.reduce((n, b, i) => n + 4 + 2 + `field ${i}`.length + 4 + b.length, 0);
    expect(outer.buffer.length).toBe(expectedLength);
  });
});

/** LEB128 of `value` (unsigned), computed apart from kafkajs and from the fix. */
function leb128(value: bigint): Buffer {
  const bytes: number[] = [];
  do {
    const low = Number(value & 0x7fn);
    value >>= 7n;
    bytes.push(value === 0n ? low : low | 0x80);
  } while (value !== 0n);
  return Buffer.from(bytes);
}
const zigzag = (value: bigint) => (value >= 0n ? value * 2n : -value * 2n - 1n);

describe('kafkajs varints written straight into the buffer', () => {
  const edges = [0, 1, -1, 63, -64, 64, -65, 127, 128, 8_191, 8_192, 2 ** 31 - 1, -(2 ** 31)];
  const samples = [...edges, ...Array.from({ length: 200 }, () => randomBytes(4).readInt32LE())];

  it('writes 32-bit varints as LEB128 of their zigzag, and reads them back', () => {
    for (const value of samples) {
      const written = new Encoder().writeVarInt(value).buffer;
      expect(written.equals(leb128(zigzag(BigInt(value)))), String(value)).toBe(true);
      expect(new Decoder(written).readVarInt()).toBe(value);
    }
    for (const value of [0, 127, 128, 300, 2 ** 31 - 1]) {
      const written = new Encoder().writeUVarInt(value).buffer;
      expect(written.equals(leb128(BigInt(value)))).toBe(true);
      expect(new Decoder(written).readUVarInt()).toBe(value);
    }
  });

  it('writes and sizes 64-bit varints, within 2^52 and beyond it', () => {
    const longs: Array<number | string> = [
      ...samples,
      2 ** 32,
      -(2 ** 32) - 5,
      1_733_140_000_123,
      -1_733_140_000_123,
      2 ** 52,
      -(2 ** 52),
      2 ** 52 + 2,
      '9007199254740993',
      '-9223372036854775808',
    ];
    for (const value of longs) {
      const written = new Encoder().writeInt32(7).writeVarLong(value).buffer.subarray(4);
      const expected = leb128(zigzag(BigInt(value)));
      expect(written.equals(expected), String(value)).toBe(true);
      expect(Encoder.sizeOfVarLong(value), String(value)).toBe(expected.length);
      expect(new Decoder(written).readVarLong().toString()).toBe(BigInt(value).toString());
    }
  });
});

type ProduceArgs = {
  acks: number;
  timeout: number;
  compression?: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  topicData: unknown[];
};
type ProduceFactory = ((args: ProduceArgs) => { encode(): Promise<Encoder> }) & {
  hookpostFixed?: boolean;
  kafkajs?: ProduceFactory;
};
const produceV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as ProduceFactory;
const produce = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol(v: {
    version: number;
  }): (args: ProduceArgs) => { request: { encode(): Promise<Encoder> } };
};
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };

describe('produce requests written in one pass', () => {
  const message = (i: number) => ({
    key: i % 3 === 0 ? null : `sub_${i}-ключ`,
    value: i % 4 === 0 ? `évènement ${i} ${'x'.repeat(i * 37)}` : randomBytes(i * 61 + 1),
    headers:
      i % 2 === 0
        ? {
            traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
            many: ['1', Buffer.from('two')],
          }
        : undefined,
  });
  const requests: Array<[string, ProduceArgs]> = [
    [
      'several topics and partitions, keys, null keys, headers, text and bytes',
      {
        acks: -1,
        timeout: 30_000,
        topicData: ['hookpost.events.v1', 'a-topic'].map((topic, t) => ({
          topic,
          partitions: [0, 3, 5].map((partition) => ({
            partition,
            firstSequence: 0,
            messages: Array.from({ length: 4 + partition + t }, (_, i) => message(i + partition)),
          })),
        })),
      },
    ],
    [
      'timestamps given, out of order',
      {
        acks: 1,
        timeout: 5_000,
        topicData: [
          {
            topic: 't',
            partitions: [
              {
                partition: 1,
                messages: [1_733_140_000_123, 1_733_140_000_001, 1_733_140_009_999].map(
                  (timestamp, i) => ({ ...message(i), timestamp }),
                ),
              },
            ],
          },
        ],
      },
    ],
    [
      'transactional, idempotent: producer id, epoch and sequence',
      {
        acks: -1,
        timeout: 30_000,
        transactionalId: 'tx-1',
        producerId: Long.fromValue(4_000_000_123),
        producerEpoch: 7,
        topicData: [
          { topic: 't', partitions: [{ partition: 0, firstSequence: 42, messages: [message(1)] }] },
        ],
      },
    ],
    [
      'an empty partition and a large message',
      {
        acks: -1,
        timeout: 30_000,
        topicData: [
          {
            topic: 't',
            partitions: [
              { partition: 0, messages: [] },
              { partition: 1, messages: [{ key: 'k', value: randomBytes(300_000) }] },
            ],
          },
        ],
      },
    ],
  ];

  it('replaces version 3 of the produce request, which versions 4 to 7 are built on', () => {
    expect(produceV3.hookpostFixed).toBe(true);
    expect(produceV3.kafkajs).toBeTypeOf('function');
  });

  it.each(requests)("writes kafkajs's bytes: %s", async (_, args) => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_764_633_600_000);
    try {
      const ours = await produceV3(args).encode();
      const theirs = await produceV3.kafkajs!(args).encode();
      expect(ours.buffer.equals(theirs.buffer)).toBe(true);
      // Written in one pass: its buffer is the request exactly (kafkajs's grow by doubling).
      expect(ours.buf.length).toBe(ours.buffer.length);
      expect(theirs.buf.length).toBeGreaterThan(theirs.buffer.length);
      for (const version of [4, 5, 6, 7]) {
        const { request } = produce.protocol({ version })({ ...args, compression: 0 });
        const encoded = await request.encode();
        expect(encoded.buffer.equals(theirs.buffer), `v${version}`).toBe(true);
        expect(encoded.buf.length, `v${version}`).toBe(encoded.buffer.length);
      }
    } finally {
      now.mockRestore();
    }
  });

  it('leaves compressed requests and timestamps that are not whole numbers to kafkajs', async () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_764_633_600_000);
    try {
      const gzip = { ...requests[0]![1], compression: 1 };
      const compressed = await produceV3(gzip).encode();
      // gzip output carries no time: two encodings of the same request are the same bytes.
      expect(compressed.buffer.equals((await produceV3.kafkajs!(gzip).encode()).buffer)).toBe(true);
      const textTime = {
        acks: -1,
        timeout: 30_000,
        topicData: [
          {
            topic: 't',
            partitions: [
              { partition: 0, messages: [{ ...message(1), timestamp: '1764633600000' }] },
            ],
          },
        ],
      };
      const ours = await produceV3(textTime).encode();
      expect(ours.buffer.equals((await produceV3.kafkajs!(textTime).encode()).buffer)).toBe(true);
    } finally {
      now.mockRestore();
    }
  });
});

describe("a produce call's messages grouped by partition in one pass", () => {
  type Group = ((args: unknown) => Record<string, unknown[]>) & {
    hookpostFixed?: boolean;
    kafkajs?: (args: unknown) => Record<string, unknown[]>;
  };
  const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as Group;
  const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId }));

  it('is the grouping that kafkajs loads for its producer', () => {
    expect(group.hookpostFixed).toBe(true);
    // Loaded after the fix, the producer takes the fixed grouping from the module cache.
    require('kafkajs/src/producer/sendMessages.js');
    expect(require('kafkajs/src/producer/groupMessagesPerPartition.js')).toBe(group);
  });

  it("gives kafkajs's lists, in the same order, for any spread of messages", () => {
    for (const count of [0, 1, 7, 300]) {
      const messages = Array.from({ length: count }, (_, i) => ({
        key: `k${i % 13}`,
        value: `v${i}`,
      }));
      // Some partitions get many, one gets none: the partitioner is the caller's.
      const partitioner = ({ message }: { message: { key: string } }) =>
        (Number(message.key.slice(1)) * 7) % 5;
      const args = { topic: 't', partitionMetadata, messages, partitioner };
      expect(group(args)).toEqual(group.kafkajs!(args));
      if (count > 0) expect(Object.keys(group(args)).length).toBe(Math.min(count, 5));
    }
  });

  it('groups nothing for a topic without partition metadata, as kafkajs does', () => {
    const args = {
      topic: 't',
      partitionMetadata: [],
      messages: [{ key: 'a', value: 'b' }],
      partitioner: () => 0,
    };
    expect(group(args)).toEqual({});
    expect(group.kafkajs!(args)).toEqual({});
  });
});
