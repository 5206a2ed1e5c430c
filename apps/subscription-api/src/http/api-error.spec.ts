import { describe, expect, it } from 'vitest';
import { ApiError } from './api-error.js';

const detail = (field: string) => ({ field, code: 'x', message: 'bad' });

describe('ApiError.validation', () => {
  it('names the one field at fault in its code, as the contract does with invalid_url', () => {
    const error = ApiError.validation([detail('url')]);
    expect([error.status, error.code, error.message]).toEqual([
      422,
      'invalid_url',
      'invalid request: url',
    ]);
  });

  it('counts the fields below one top-level field as that field', () => {
    const error = ApiError.validation([detail('scope.domains.0'), detail('scope.mailboxes.2')]);
    expect(error.code).toBe('invalid_scope');
    expect(error.message).toBe('invalid request: scope.domains.0, scope.mailboxes.2');
  });

  it('says validation_failed when several fields are at fault, each in the details', () => {
    const error = ApiError.validation([detail('url'), detail('events')]);
    expect(error.code).toBe('validation_failed');
    expect(error.details.map((d) => d.field)).toEqual(['url', 'events']);
  });

  it('makes no code of a field name that is not a plain lower-case name', () => {
    expect(ApiError.validation([detail('(body)')]).code).toBe('validation_failed');
    expect(ApiError.validation([detail('Weird Key')]).code).toBe('validation_failed');
  });
});
