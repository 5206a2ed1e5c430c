import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { ApiError, type ErrorDetail } from './api-error.js';

/** A NUL (Postgres stores none) or a lone UTF-16 surrogate (not Unicode text). */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The fields holding a string no database or JSON document can carry, or a key `__proto__`
 * (which an object built from the input would silently drop, losing what was sent), at
 * any depth, each named by its top-level field. Walks with a stack: input may be nested
 * arbitrarily deep.
 */
function unstorableText(value: object): ErrorDetail[] {
  const fields = new Set<string>();
  const protoKeys = new Set<string>();
  const stack: Array<[field: string, key: string, value: unknown]> = Object.entries(value).map(
    ([field, child]) => [field, field, child],
  );
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [field, key, child] = next;
    if (key === '__proto__') protoKeys.add(field);
    else if (UNSTORABLE.test(key) || (typeof child === 'string' && UNSTORABLE.test(child)))
      fields.add(field);
    else if (child !== null && typeof child === 'object')
      for (const [k, v] of Object.entries(child)) stack.push([field, k, v]);
  }
  return [
    ...[...fields].map((field) => ({
      field,
      code: 'invalid_text',
      message: 'must not contain NUL characters or unpaired UTF-16 surrogates',
    })),
    ...[...protoKeys].map((field) => ({
      field,
      code: 'invalid_key',
      message: 'must not hold a key named __proto__',
    })),
  ];
}

/** Validates input with a schema; every bad field is named in the 422 (REST and gRPC alike). */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  // No body at all (no content type) reads as an empty object: required fields are then named.
  const value = raw === undefined ? {} : raw;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'invalid_body', 'the request body must be a JSON object');
  }
  const unstorable = unstorableText(value);
  if (unstorable.length > 0) throw ApiError.validation(unstorable);
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw ApiError.validation(
    parsed.error.issues.flatMap((issue) =>
      // An unknown field is named itself, not the object it was found in.
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({
            field: [...issue.path, key].join('.'),
            code: 'unknown_field',
            message: 'is not a field of this request',
          }))
        : [{ field: issue.path.join('.') || '(body)', code: issue.code, message: issue.message }],
    ),
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
