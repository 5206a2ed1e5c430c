import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import './kafkajs-fixes.js';

interface Encoder {
  writeInt32(value: number): Encoder;
  writeVarInt(value: number): Encoder;
  writeUVarInt(value: number): Encoder;
  writeVarLong(value: number | string): Encoder;
  writeString(value: string): Encoder;
  writeBytes(value: Buffer): Encoder;
  writeEncoder(value: Encoder): Encoder;
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
