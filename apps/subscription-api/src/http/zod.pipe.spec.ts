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

  it('names a missing or mistyped field', () => {
    expect(refusal({}).details).toMatchObject([{ field: 'name', code: 'invalid_type' }]);
  });
});
