import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';

const require = createRequire(import.meta.url);
/** kafkajs's CRC-32C, a byte at a time: the reference the broker agrees with. */
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (
  bytes: Buffer,
) => number;

describe('crc32c', () => {
  it('gives the published check values', () => {
    // The CRC catalogue's check value, and the iSCSI test vectors of RFC 3720, B.4.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it("agrees with kafkajs's on every length around its eight-byte steps, and on ranges", () => {
    for (let length = 0; length < 80; length++) {
      const bytes = randomBytes(length);
      expect(crc32c(bytes), `length ${length}`).toBe(kafkajsCrc32c(bytes));
    }
    const large = randomBytes(20_003);
    expect(crc32c(large)).toBe(kafkajsCrc32c(large));
    for (const [start, end] of [
      [1, 9],
      [3, 3],
      [7, 20_000],
      [13, 20_003],
    ] as const) {
      expect(crc32c(large, start, end), `${start}..${end}`).toBe(
        kafkajsCrc32c(large.subarray(start, end)),
      );
    }
  });
});
