// First: it loads the platform, whose kafkajs fixes must come before kafkajs itself.
import { knownError } from './error.filter.js';
import { SubscriptionError } from '@hookpost/domain';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api-error.js';

describe('knownError', () => {
  it('answers what the caller can act on with its status and code', () => {
    expect(knownError(ApiError.notFound('webhook'))).toEqual([
      404,
      { error: { code: 'not_found', message: 'webhook not found', details: [] } },
    ]);
    expect(knownError(new SubscriptionError('invalid_transition', 'no'))?.[0]).toBe(409);
  });

  it('answers 503 when Kafka is away, however kafkajs says so, and not as the database', () => {
    const refused = Object.assign(
      new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED'),
      {
        code: 'ECONNREFUSED',
      },
    );
    const gaveUp = new kafkajs.KafkaJSNumberOfRetriesExceeded(refused, {
      retryCount: 8,
      retryTime: 9_000,
    });
    const timedOut = new kafkajs.KafkaJSRequestTimeoutError(
      'Request Produce(key: 0, version: 7) timed out',
    );
    for (const error of [refused, gaveUp, timedOut]) {
      expect(knownError(error), error.name).toEqual([
        503,
        {
          error: {
            code: 'unavailable',
            message: 'Kafka is unavailable; retry shortly',
            details: [],
          },
        },
      ]);
    }
  });

  it('answers 503 for a database that is away, and nothing for an unexpected error', () => {
    const terminated = Object.assign(new Error('Connection terminated unexpectedly'), {});
    expect(knownError(terminated)?.[1].error.message).toMatch(/database/);
    expect(knownError(new TypeError('x is undefined'))).toBeUndefined();
  });
});
