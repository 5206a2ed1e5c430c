// First, as kafka.ts has it: some fixes must be in place before kafkajs loads its producer.
import './kafkajs-fixes.js';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../logging/logger.js';
import { brokerUnreachable, onConsumerCrash } from './kafka.js';

/** Which consumer crashes mean "the brokers are away" (rejoin later), not "exit". */
describe('brokerUnreachable', () => {
  it('knows kafkajs errors of brokers that could not be reached, also as a cause', () => {
    const refused = new kafkajs.KafkaJSConnectionError('connect ECONNREFUSED 127.0.0.1:9092');
    expect(brokerUnreachable(refused)).toBe(true);
    expect(brokerUnreachable(new Error('gave up after 8 retries', { cause: refused }))).toBe(true);
  });

  it("knows kafkajs's plain error for a request to a broker whose connection just dropped", () => {
    // Seen when a metadata refresh raced a broker restart (crash suite, 2026-12-02).
    expect(brokerUnreachable(new Error('Broker not connected'))).toBe(true);
  });

  it('does not take other failures for an absent broker', () => {
    expect(brokerUnreachable(new Error('Cannot read properties of undefined'))).toBe(false);
    expect(brokerUnreachable(new kafkajs.KafkaJSNonRetriableError('Invalid topic'))).toBe(false);
    expect(brokerUnreachable(undefined)).toBe(false);
  });
});

describe('onConsumerCrash', () => {
  function recorder() {
    const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
    const at =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        lines.push({ level, fields, message });
      };
    const logger = { info: at('info'), warn: at('warn'), fatal: at('fatal') } as unknown as Logger;
    return { lines, logger };
  }

  it('tells a routine restart briefly, and an unexpected one with its error', () => {
    const { lines, logger } = recorder();
    const loading = new kafkajs.KafkaJSProtocolError({
      message: "The coordinator is loading and hence can't process requests",
      type: 'COORDINATOR_LOAD_IN_PROGRESS',
      code: 14,
      retriable: true,
    } as unknown as string);
    onConsumerCrash(logger, 'group', { error: loading, restart: true }, () => Promise.resolve());
    const odd = new Error('handler failed');
    onConsumerCrash(logger, 'group', { error: odd, restart: true }, () => Promise.resolve());
    expect(lines).toEqual([
      {
        level: 'info',
        fields: { groupId: 'group', reason: expect.stringContaining('coordinator is loading') },
        message: 'consumer restarting after a retriable error',
      },
      {
        level: 'warn',
        fields: { err: odd, groupId: 'group' },
        message: 'consumer failed; restarting it',
      },
    ]);
  });
});
