import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.js';

/** The largest request body the API takes, over REST and over gRPC alike. */
export const MAX_REQUEST_BYTES = 256 * 1024;

/**
 * A request that carries a body must send it as `application/json`: any other type would
 * be skipped by the JSON parser and the request judged as if it had no body.
 */
export function requireJsonBody(request: Request, _response: Response, next: NextFunction): void {
  const hasBody =
    request.headers['transfer-encoding'] !== undefined ||
    Number(request.headers['content-length'] ?? 0) > 0;
  if (hasBody && !request.is('application/json')) {
    const type = request.headers['content-type'];
    const message = type
      ? `content-type must be application/json, not ${JSON.stringify(type.slice(0, 100))}`
      : 'a request body needs content-type: application/json';
    next(new ApiError(415, 'unsupported_media_type', message));
    return;
  }
  // JSON is UTF-8 (RFC 8259); the parser would decode UTF-16 and then fail on what it got.
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '');
  if (hasBody && charset && !/^utf-?8$/i.test(charset[1]!)) {
    next(
      new ApiError(
        415,
        'unsupported_media_type',
        `the charset of a JSON body must be utf-8, not ${JSON.stringify(charset[1]!.slice(0, 40))}`,
      ),
    );
    return;
  }
  next();
}
