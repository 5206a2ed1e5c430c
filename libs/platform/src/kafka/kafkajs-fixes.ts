import { createRequire } from 'node:module';
import { encodeProduceRequest, type ProduceRequest } from './produce-request.js';

/**
 * Fixes for kafkajs 2.2.4, applied once per process on import. kafkajs is unmaintained,
 * so they are not going to be made upstream.
 */
const require = createRequire(import.meta.url);

/**
 * Each broker connection's request queue has a check for requests held back (broker
 * throttling, too many in flight). After every response it schedules the next check,
 * even with nothing held back, and with a negative delay (Node makes it 1 ms): from the
 * first response on, every connection wakes the process a thousand times a second, for
 * ever (kafkajs issues #1556 and #1704; Node 24 warns "TimeoutNegativeWarning" once).
 * Measured here: four idle consumers used 5.4% of a core, and 2.1% with this fix. A
 * check is needed only while requests are held back; when none are, the next request
 * that is held back schedules one itself.
 */
interface RequestQueue {
  pending: unknown[];
  scheduleCheckPendingRequests(): void;
}

const { prototype } = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueue & { hookpostFixed?: boolean };
};
if (!prototype.hookpostFixed) {
  const schedule = prototype.scheduleCheckPendingRequests;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length > 0) schedule.call(this);
  };
  prototype.hookpostFixed = true;
}

/**
 * The protocol encoder grows its buffer with `Buffer.alloc`: a zero-filled buffer of its
 * own, each time, for bytes it overwrites at once (it only ever appends, and hands out
 * only what it wrote). Growing made two thirds of the encoder's allocations, and about 5%
 * of the matcher's busy time at 1,000 events/s (CPU profile). `allocUnsafe` takes small
 * buffers from Node's pool and fills none.
 */
interface Encoder {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): Encoder;
  writeVarLong(value: unknown): Encoder;
}
type EncoderClass = {
  prototype: Encoder & { hookpostFixed?: boolean };
  nextPowerOfTwo(value: number): number;
  sizeOfVarLong(value: unknown): number;
};
const encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass;
if (!encoder.prototype.hookpostFixed) {
  encoder.prototype.ensureAvailable = function (this: Encoder, length: number) {
    if (this.offset + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(encoder.nextPowerOfTwo(this.offset + length));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  };
  fixVarints(encoder);
  encoder.prototype.hookpostFixed = true;
}

/**
 * Every record of a produce request carries eight or so variable-length integers (its
 * size, offset and timestamp deltas, the lengths of its key, value and headers). kafkajs
 * writes each through an array and a `Buffer.from` of it, and the 64-bit ones (the
 * timestamp delta) through its BigInt-backed `Long`, a few objects per operation: about
 * a tenth of the ingest's allocations at 1,000 events/s (heap profile of the pipeline
 * benchmark). They are written straight into the encoder's buffer instead, the same
 * bytes (LEB128 of the zigzag encoding). A 64-bit value beyond 2^52, or one given as a
 * `Long` or a string, still goes through kafkajs's own code.
 */
function fixVarints(Encoder: EncoderClass): void {
  const { writeVarLong } = Encoder.prototype;
  const { sizeOfVarLong } = Encoder;
  const small = (value: unknown): value is number =>
    typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 2 ** 52;
  // Zigzag without 32-bit operators, which would cut a value above 2^31.
  const zigzag = (value: number) => (value >= 0 ? value * 2 : -value * 2 - 1);

  Encoder.prototype.writeUVarInt = function (this: Encoder, value: number) {
    this.ensureAvailable(5);
    while ((value & 0xffffff80) !== 0) {
      this.buf[this.offset++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buf[this.offset++] = value & 0x7f;
    return this;
  };
  Encoder.prototype.writeVarLong = function (this: Encoder, value: unknown) {
    if (!small(value)) return writeVarLong.call(this, value);
    let rest = zigzag(value);
    this.ensureAvailable(8);
    while (rest >= 0x80) {
      this.buf[this.offset++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buf[this.offset++] = rest;
    return this;
  };
  Encoder.sizeOfVarLong = (value: unknown) => {
    if (!small(value)) return sizeOfVarLong.call(Encoder, value);
    let rest = zigzag(value);
    let bytes = 1;
    while (rest >= 0x80) {
      bytes += 1;
      rest = Math.floor(rest / 0x80);
    }
    return bytes;
  };
}

/**
 * A produce call's messages are grouped by partition before its requests are built.
 * kafkajs copies a partition's whole list each time it adds one message to it
 * (`[...current, message]`), and a new result object with it: quadratic in the messages
 * one call has for one partition (kafkajs pull request #1576, not merged). A service
 * behind, whose shared flushes carry hundreds of messages, paid for it most: 5.5-6.6% of
 * the ingest's, the matcher's and the deliverer's allocations at 5,000 events/s (sampling
 * heap profiles of the pipeline benchmark). Grouped in one pass instead, the same lists in
 * the same order. `sendMessages.js` takes the grouping function when it is loaded, so this
 * must run before kafkajs's producer is: `kafka.ts` imports these fixes before kafkajs.
 */
type GroupFunction = ((args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}) => Record<number, unknown[]>) & {
  hookpostFixed?: boolean;
  /** kafkajs's own grouping, kept to compare against (kafkajs-fixes.spec.ts, bench:kafka-encode). */
  kafkajs?: GroupFunction;
};
const groupModule = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
const grouping = require.cache[groupModule]?.exports as GroupFunction | undefined;
if (!grouping?.hookpostFixed) {
  if (require.cache[require.resolve('kafkajs/src/producer/sendMessages.js')])
    throw new Error(
      'kafkajs-fixes: the kafkajs producer was loaded before the fix; import it first',
    );
  const kafkajsGrouping = require(groupModule) as GroupFunction;
  const onePass: GroupFunction = ({ topic, partitionMetadata, messages, partitioner }) => {
    const groups: Record<number, unknown[]> = {};
    if (partitionMetadata.length === 0) return groups;
    for (const message of messages) {
      const partition = partitioner({ topic, partitionMetadata, message });
      (groups[partition] ??= []).push(message);
    }
    return groups;
  };
  onePass.hookpostFixed = true;
  onePass.kafkajs = kafkajsGrouping;
  require.cache[groupModule]!.exports = onePass;
}

/**
 * Produce requests, written in one pass (produce-request.ts) instead of kafkajs's encoder
 * per record, per header, per batch, per partition and per topic, each copied into the
 * next, and its CRC-32C a byte at a time: these were the largest cost of kafkajs in the
 * ingest's and the matcher's CPU profiles at 1,000 events/s. Versions 4 to 7 of the
 * request are version 3's with another number; compressed requests stay with kafkajs.
 */
type ProduceFactory = ((args: ProduceRequest & { compression?: number }) => {
  encode(): Promise<unknown>;
}) & {
  hookpostFixed?: boolean;
  /** kafkajs's own encoding, kept to compare against (kafkajs-fixes.spec.ts). */
  kafkajs?: ProduceFactory;
};

const produceModule = (version: number) =>
  require.resolve(`kafkajs/src/protocol/requests/produce/v${version}/request.js`);
const v3 = require.cache[produceModule(3)]?.exports as ProduceFactory | undefined;
if (!v3?.hookpostFixed) {
  // Versions 4 to 7 take version 3 when they are first loaded, at the first produce.
  const early = [4, 5, 6, 7].filter((version) => require.cache[produceModule(version)]);
  if (early.length > 0)
    throw new Error(`kafkajs-fixes: produce request v${early.join(', v')} loaded before the fix`);
  const kafkajsProduce = require(produceModule(3)) as ProduceFactory;
  const onePass: ProduceFactory = (args) => {
    const request = kafkajsProduce(args);
    if ((args.compression ?? 0) !== 0) return request;
    return {
      ...request,
      encode: async () => {
        const body = encodeProduceRequest(args);
        return body ? asEncoder(body) : request.encode();
      },
    };
  };
  onePass.hookpostFixed = true;
  onePass.kafkajs = kafkajsProduce;
  require.cache[produceModule(3)]!.exports = onePass;
}

/** A finished buffer as the kafkajs encoder that request framing expects. */
function asEncoder(buffer: Buffer): Encoder {
  const wrapped = Object.create(encoder.prototype) as Encoder;
  wrapped.buf = buffer;
  wrapped.offset = buffer.length;
  return wrapped;
}
