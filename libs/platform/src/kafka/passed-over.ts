import { decodeJson } from '@hookpost/contracts';
import { Counter } from 'prom-client';
import type { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import type { IncomingMessage } from './kafka.js';

const passedOver = new Counter({
  name: 'hookpost_kafka_passed_over_total',
  help: 'Messages of Hookpost topics passed over, unprocessed: undecodable (against their schema) or unstorable (refused by Postgres)',
  labelNames: ['topic', 'reason'],
});

/**
 * Counts a message passed over, for the HookpostMessagesPassedOver alert: only Hookpost's
 * own services write the topics it is used for, so each one is a bug (or a message
 * produced by hand), and what it carried is lost to its consumer. Stopping at it instead
 * would stop the partition, or the whole consumer, for good.
 */
export function countPassedOver(topic: string, reason: 'undecodable' | 'unstorable'): void {
  passedOver.inc({ topic, reason });
}

/**
 * `message`'s value decoded with `schema`, or undefined once it has been logged and
 * counted as passed over (`countPassedOver`): a log line alone is found only by someone
 * already looking.
 */
export function decodeOrPassOver<T>(
  schema: z.ZodType<T>,
  message: IncomingMessage,
  logger: Logger,
  what: string,
): T | undefined {
  const decoded = decodeJson(schema, message.value);
  if (decoded.ok) return decoded.value;
  countPassedOver(message.topic, 'undecodable');
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
