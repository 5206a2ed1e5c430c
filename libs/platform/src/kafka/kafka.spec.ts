// First, as kafka.ts has it: some fixes must be in place before kafkajs loads its producer.
import './kafkajs-fixes.js';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { brokerUnreachable } from './kafka.js';

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
