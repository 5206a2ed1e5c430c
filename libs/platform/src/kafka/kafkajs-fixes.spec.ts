import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import './kafkajs-fixes.js';

interface Encoder {
  writeInt32(value: number): Encoder;
  writeString(value: string): Encoder;
  writeBytes(value: Buffer): Encoder;
  writeEncoder(value: Encoder): Encoder;
  readonly buffer: Buffer;
}
const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => Encoder;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => {
  readInt32(): number;
  readString(): string;
  readBytes(): Buffer;
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
