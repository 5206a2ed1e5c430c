import { SubscriptionError } from '@hookpost/domain';
import { brokerUnreachable, LOGGER, type Logger } from '@hookpost/platform';
import {
  Catch,
  HttpException,
  Inject,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Response } from 'express';
import { RateLimitedError, setRateLimitHeaders } from '../rate-limits/rate-limits.js';
import { ApiError } from './api-error.js';

export interface ErrorBody {
  error: { code: string; message: string; details: unknown[] };
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'version_mismatch',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
  503: 'unavailable',
};

/**
 * What a 503 asks callers to wait before trying again: a database restart or fail-over
 * usually takes seconds, and the pool gives up on a connection after three.
 */
const RETRY_AFTER_SECONDS = 5;

/** Connection-level database failures: the database is away, not the request bad. */
function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      '57P01',
      '57P03',
      '08006',
      '08001',
      '08003',
    ].includes(code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|Connection refused/i.test(
      message ?? '',
    )
  );
}

/**
 * A send to Kafka that gave up (the test event, a retry by hand, a replay): the brokers
 * are away or not answering, not the request bad.
 */
function isKafkaUnavailable(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (KAFKA_GAVE_UP.has(e.name ?? '')) return true;
  return brokerUnreachable(error);
}
const KAFKA_GAVE_UP = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSRequestTimeoutError']);

/**
 * The errors callers can act on, as a status and body; undefined for anything else. Shared
 * by the REST filter and the gRPC adapter.
 */
export function knownError(exception: unknown): [number, ErrorBody] | undefined {
  if (exception instanceof ApiError) {
    return [
      exception.status,
      { error: { code: exception.code, message: exception.message, details: exception.details } },
    ];
  }
  if (exception instanceof SubscriptionError) {
    const status = exception.code === 'not_found' ? 404 : 409;
    const message = exception.code === 'not_found' ? 'webhook not found' : exception.message;
    return [status, { error: { code: exception.code, message, details: [] } }];
  }
  // Before the database's check: a broker's refused connection has the same error code.
  if (isKafkaUnavailable(exception)) {
    return [
      503,
      {
        error: {
          code: 'unavailable',
          message: 'Kafka is unavailable; retry shortly',
          details: [],
        },
      },
    ];
  }
  if (isDatabaseUnavailable(exception)) {
    return [
      503,
      {
        error: {
          code: 'unavailable',
          message: 'the database is unavailable; retry shortly',
          details: [],
        },
      },
    ];
  }
  return undefined;
}

/**
 * Every error leaves as `{"error": {"code", "message", "details"}}`. Only this adapter
 * maps errors to HTTP statuses; anything unexpected is logged and answered 500 without
 * internals.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.toResponse(exception);
    if (status === 503) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    if (exception instanceof RateLimitedError) setRateLimitHeaders(response, exception.decision);
    response.status(status).json(body);
  }

  private toResponse(exception: unknown): [number, ErrorBody] {
    const known = knownError(exception);
    if (known) {
      if (known[0] === 503) this.logger.warn({ err: exception }, 'database unavailable');
      return known;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = STATUS_CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request');
      // body-parser's errors: malformed JSON, too large, wrong charset.
      const cause = exception.cause as { type?: string; body?: unknown } | undefined;
      if (cause?.type === 'entity.parse.failed') {
        // The parser takes only objects and arrays: `"hello"` or `null` is JSON, just not
        // a request body.
        const [errorCode, message] = isJson(cause.body)
          ? ['invalid_body', 'the request body must be a JSON object']
          : ['invalid_json', 'the request body is not valid JSON'];
        return [status, { error: { code: errorCode, message, details: [] } }];
      }
      const message = status === 404 ? 'no such route' : exception.message;
      return [status, { error: { code, message, details: [] } }];
    }
    this.logger.error({ err: exception }, 'unhandled error');
    return [500, { error: { code: 'internal', message: 'internal error', details: [] } }];
  }
}

function isJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
