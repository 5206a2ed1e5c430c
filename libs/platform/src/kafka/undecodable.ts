import { decodeJson } from '@hookpost/contracts';
import { Counter } from 'prom-client';
import type { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import type { IncomingMessage } from './kafka.js';

const passedOver = new Counter({
  name: 'hookpost_kafka_undecodable_messages_total',
  help: "Messages passed over because they did not decode against their topic's schema",
  labelNames: ['topic'],
});

/**
 * `message`'s value decoded with `schema`, or undefined once it has been logged and
 * counted as passed over. Only Hookpost's own services write the topics read this way,
 * through the same schemas: a message that does not decode is a bug (or was produced by
 * hand), and what it carried never reaches its consumer. Stopping at it would stop the
 * partition for good, so it is passed over, and counted for an alert: a log line alone
 * is found only by someone already looking.
 */
export function decodeOrPassOver<T>(
  schema: z.ZodType<T>,
  message: IncomingMessage,
  logger: Logger,
  what: string,
): T | undefined {
  const decoded = decodeJson(schema, message.value);
  if (decoded.ok) return decoded.value;
  passedOver.inc({ topic: message.topic });
  logger.error(
    {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      reason: decoded.detail,
    },
    `undecodable ${what}`,
  );
  return undefined;
}
