import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { ApiError } from './api-error.js';

/** Validates input with a schema; every bad field is named in the 422 (REST and gRPC alike). */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  // No body at all (no content type) reads as an empty object: required fields are then named.
  const value = raw === undefined ? {} : raw;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'invalid_body', 'the request body must be a JSON object');
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw ApiError.validation(
    parsed.error.issues.map((issue) => ({
      field: issue.path.join('.') || '(body)',
      code: issue.code === 'unrecognized_keys' ? 'unknown_field' : issue.code,
      message: issue.message,
    })),
  );
}

/** Validates a request body or query with a schema. */
@Injectable()
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}

  transform(raw: unknown): z.infer<S> {
    return parseWith(this.schema, raw);
  }
}
