import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api-error.js';
import { parseWith } from './zod.pipe.js';

const schema = z.strictObject({
  name: z.string(),
  scope: z.strictObject({ domains: z.array(z.string()) }).optional(),
});

function refusal(raw: unknown): ApiError {
  try {
    parseWith(schema, raw);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('parseWith', () => {
  it('names each unknown field itself, at any depth', () => {
    const error = refusal({ name: 'a', colour: 1, scope: { domains: [], mailbox: 'x' } });
    expect(error.status).toBe(422);
    expect(error.details).toEqual(
      expect.arrayContaining([
        { field: 'colour', code: 'unknown_field', message: 'is not a field of this request' },
        {
          field: 'scope.mailbox',
          code: 'unknown_field',
          message: 'is not a field of this request',
        },
      ]),
    );
    expect(error.details).toHaveLength(2);
  });

  it('refuses a key named __proto__ at any depth, which an object built from it would drop', () => {
    const record = z.strictObject({ metadata: z.record(z.string(), z.string()) });
    const raw = JSON.parse('{"metadata": {"a": "1", "__proto__": "x"}}') as unknown;
    expect(() => parseWith(record, raw)).toThrow(ApiError);
    try {
      parseWith(record, raw);
    } catch (error) {
      expect((error as ApiError).details).toEqual([
        { field: 'metadata', code: 'invalid_key', message: 'must not hold a key named __proto__' },
      ]);
    }
    expect(parseWith(record, { metadata: { a: '1', constructor: 'y' } })).toEqual({
      metadata: { a: '1', constructor: 'y' },
    });
  });

  it('names a missing or mistyped field', () => {
    expect(refusal({}).details).toMatchObject([{ field: 'name', code: 'invalid_type' }]);
  });
});
