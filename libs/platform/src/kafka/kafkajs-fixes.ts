import { createRequire } from 'node:module';

/**
 * A fix for kafkajs 2.2.4, applied once per process on import. kafkajs is unmaintained,
 * so this is not going to be fixed upstream.
 *
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

const require = createRequire(import.meta.url);
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
