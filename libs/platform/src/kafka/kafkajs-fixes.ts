import { createRequire } from 'node:module';

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
}
const encoder = require('kafkajs/src/protocol/encoder.js') as {
  prototype: Encoder & { hookpostFixed?: boolean };
  nextPowerOfTwo(value: number): number;
};
if (!encoder.prototype.hookpostFixed) {
  encoder.prototype.ensureAvailable = function (this: Encoder, length: number) {
    if (this.offset + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(encoder.nextPowerOfTwo(this.offset + length));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  };
  encoder.prototype.hookpostFixed = true;
}
