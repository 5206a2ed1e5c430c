import { crc32c } from './crc32c.js';

/**
 * The body of an uncompressed Kafka produce request (versions 3 to 7 share it), written
 * in one pass into one buffer of the right size. kafkajs builds it from an encoder per
 * record, per header, per record batch, per partition and per topic, each zero-filled
 * and copied into the next: six copies of every message, and a CRC-32C a byte at a time.
 * The bytes are the same as kafkajs's (kafkajs-fixes.spec.ts compares them).
 *
 * Layout (Kafka protocol, ProduceRequest v3 and the v2 record batch):
 *   transactional_id acks timeout [topic [partition record_set]]
 *   record_set: base_offset length leader_epoch magic crc attributes last_offset_delta
 *     first_timestamp max_timestamp producer_id producer_epoch base_sequence [record]
 *   record: length attributes timestamp_delta offset_delta key value [header]
 */

type Bytes = Buffer | string | null | undefined;

export interface ProduceMessage {
  key?: Bytes;
  value: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
  timestamp?: number;
}

export interface ProduceRequest {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  /** A 64-bit id (kafkajs passes its `Long`); -1 for a producer that is not idempotent. */
  producerId?: { toString(): string } | number;
  producerEpoch?: number;
  topicData: Array<{
    topic: string;
    partitions: Array<{ partition: number; firstSequence?: number; messages: ProduceMessage[] }>;
  }>;
}

const MAGIC = 2;
const TRANSACTIONAL = 0x10;
const NULL_LENGTH = -1;

/**
 * The request body, or undefined where kafkajs must encode it itself: timestamps that are
 * not whole numbers, or a time delta too large for a double to hold exactly.
 */
export function encodeProduceRequest(
  request: ProduceRequest,
  now = Date.now(),
): Buffer | undefined {
  const sizes = new Sizes();
  const plans: BatchPlan[] = [];
  let total = 2 + byteLength(request.transactionalId) + 2 + 4 + 4;
  for (const { topic, partitions } of request.topicData) {
    total += 2 + Buffer.byteLength(topic) + 4;
    for (const { messages } of partitions) {
      const plan = planBatch(messages, now, sizes);
      if (!plan) return undefined;
      plans.push(plan);
      total += 4 + 4 + BATCH_OVERHEAD + plan.recordsBytes;
    }
  }

  const out = new Writer(Buffer.allocUnsafe(total), sizes);
  out.nullableString(request.transactionalId);
  out.int16(request.acks);
  out.int32(request.timeout);
  out.int32(request.topicData.length);
  const producerId = BigInt((request.producerId ?? -1).toString());
  const attributes = request.transactionalId ? TRANSACTIONAL : 0;
  let planIndex = 0;
  for (const { topic, partitions } of request.topicData) {
    out.nullableString(topic);
    out.int32(partitions.length);
    for (const { partition, firstSequence, messages } of partitions) {
      const plan = plans[planIndex++]!;
      const batchLength = BATCH_OVERHEAD - 12 + plan.recordsBytes;
      out.int32(partition);
      out.int32(12 + batchLength);
      out.int64(0n); // base offset: the broker assigns offsets
      out.int32(batchLength);
      out.int32(0); // partition leader epoch
      out.int8(MAGIC);
      const crcAt = out.offset;
      out.int32(0); // the CRC, of everything after it, filled in below
      out.int16(attributes);
      out.int32(messages.length - 1);
      out.int64(BigInt(plan.firstTimestamp));
      out.int64(BigInt(plan.maxTimestamp));
      out.int64(producerId);
      out.int16(request.producerEpoch ?? 0);
      out.int32(firstSequence ?? 0);
      out.int32(messages.length);
      messages.forEach((message, i) => out.record(message, i, plan.deltas[i]!));
      out.buffer.writeUInt32BE(crc32c(out.buffer, crcAt + 4, out.offset), crcAt);
    }
  }
  if (out.offset !== total) throw new Error(`produce request: wrote ${out.offset} of ${total}`);
  return out.buffer;
}

/** A record batch's fixed fields, from base offset to record count. */
const BATCH_OVERHEAD = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

interface BatchPlan {
  firstTimestamp: number;
  maxTimestamp: number;
  /** Per record: its timestamp less the batch's first. */
  deltas: number[];
  recordsBytes: number;
}

function planBatch(messages: ProduceMessage[], now: number, sizes: Sizes): BatchPlan | undefined {
  const stamped: number[] = [];
  for (const { timestamp } of messages) {
    if (timestamp === undefined || timestamp === null) continue;
    if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) return undefined;
    stamped.push(timestamp);
  }
  // As kafkajs does: the array's default sort (by their text), first and last of it.
  stamped.sort();
  const firstTimestamp = stamped.length > 0 ? stamped[0]! : now;
  const maxTimestamp = stamped.length > 0 ? stamped[stamped.length - 1]! : now;
  const deltas: number[] = [];
  let recordsBytes = 0;
  messages.forEach((message, i) => {
    const delta = (message.timestamp || now) - firstTimestamp;
    deltas.push(delta);
    const body = sizes.recordBody(message, i, delta);
    recordsBytes += varintSize(zigzag(body)) + body;
  });
  if (deltas.some((d) => !Number.isSafeInteger(zigzag(d)))) return undefined;
  return { firstTimestamp, maxTimestamp, deltas, recordsBytes };
}

/**
 * Byte lengths measured while sizing, in the order they are written, so that each string
 * is measured once, and each record's headers as a list; the writer takes them back in
 * the same order.
 */
class Sizes {
  readonly lengths: number[] = [];
  readonly headers: Array<Array<[string, Bytes]>> = [];

  recordBody(message: ProduceMessage, offsetDelta: number, timestampDelta: number): number {
    const at = this.lengths.push(0) - 1; // the body's own length is written first
    let size = 1 + varintSize(zigzag(timestampDelta)) + varintSize(zigzag(offsetDelta));
    size += this.bytes(message.key) + this.bytes(message.value);
    const headers = headerList(message.headers);
    this.headers.push(headers);
    size += varintSize(zigzag(headers.length));
    for (const [key, value] of headers) size += this.bytes(key) + this.bytes(value);
    this.lengths[at] = size;
    return size;
  }

  /** A length-prefixed (varint) byte string, null as length -1. */
  private bytes(value: Bytes): number {
    if (value === null || value === undefined) return varintSize(zigzag(NULL_LENGTH));
    const length = byteLength(value);
    this.lengths.push(length);
    return varintSize(zigzag(length)) + length;
  }
}

class Writer {
  offset = 0;
  private next = 0;
  private nextRecord = 0;
  readonly buffer: Buffer;
  private readonly sizes: Sizes;

  constructor(buffer: Buffer, sizes: Sizes) {
    this.buffer = buffer;
    this.sizes = sizes;
  }

  int8(value: number): void {
    this.offset = this.buffer.writeInt8(value, this.offset);
  }

  int16(value: number): void {
    this.offset = this.buffer.writeInt16BE(value, this.offset);
  }

  int32(value: number): void {
    this.offset = this.buffer.writeInt32BE(value, this.offset);
  }

  int64(value: bigint): void {
    this.offset = this.buffer.writeBigInt64BE(value, this.offset);
  }

  /** A length-prefixed (int16) string, null as length -1. */
  nullableString(value: string | null | undefined): void {
    if (value === null || value === undefined) return this.int16(NULL_LENGTH);
    const length = Buffer.byteLength(value);
    this.int16(length);
    this.offset += this.buffer.write(value, this.offset, length, 'utf8');
  }

  /** Lengths in the order Sizes measured them: body, then key, value, each header's pair. */
  record(message: ProduceMessage, offsetDelta: number, timestampDelta: number): void {
    this.varint(this.sizes.lengths[this.next++]!);
    this.int8(0); // record attributes: none are defined
    this.varint(timestampDelta);
    this.varint(offsetDelta);
    this.bytes(message.key);
    this.bytes(message.value);
    const headers = this.sizes.headers[this.nextRecord++]!;
    this.varint(headers.length);
    for (const [key, value] of headers) {
      this.bytes(key);
      this.bytes(value);
    }
  }

  private bytes(value: Bytes): void {
    if (value === null || value === undefined) return this.varint(NULL_LENGTH);
    const length = this.sizes.lengths[this.next++]!;
    this.varint(length);
    if (typeof value === 'string') this.buffer.write(value, this.offset, length, 'utf8');
    else value.copy(this.buffer, this.offset);
    this.offset += length;
  }

  /** Zigzag, then LEB128 (Kafka's varint and varlong alike). */
  private varint(value: number): void {
    let rest = zigzag(value);
    while (rest >= 0x80) {
      this.buffer[this.offset++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.offset++] = rest;
  }
}

/** Headers as kafkajs sends them: one entry per value, an array's values in order. */
function headerList(headers: ProduceMessage['headers']): Array<[string, Bytes]> {
  const list: Array<[string, Bytes]> = [];
  if (!headers) return list;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (Array.isArray(value)) for (const each of value) list.push([key, each]);
    else list.push([key, value]);
  }
  return list;
}

function byteLength(value: Bytes): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** Without 32-bit operators, which would cut values above 2^31. */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function varintSize(unsigned: number): number {
  let bytes = 1;
  while (unsigned >= 0x80) {
    bytes += 1;
    unsigned = Math.floor(unsigned / 0x80);
  }
  return bytes;
}
