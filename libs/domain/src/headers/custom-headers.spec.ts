import { describe, expect, it } from 'vitest';
import { validateCustomHeaders } from './custom-headers.js';

describe('custom headers', () => {
  it('accepts valid headers and clears with null', () => {
    expect(validateCustomHeaders({ Authorization: 'Bearer x', 'X-Route': 'eu-1' })).toEqual({
      ok: true,
      headers: { Authorization: 'Bearer x', 'X-Route': 'eu-1' },
    });
    expect(validateCustomHeaders(null)).toEqual({ ok: true, headers: {} });
  });

  it('accepts Latin-1 values, and keeps a header named __proto__ as given', () => {
    expect(validateCustomHeaders({ 'X-Team': 'café' })).toEqual({
      ok: true,
      headers: { 'X-Team': 'café' },
    });
    const result = validateCustomHeaders(JSON.parse('{"__proto__":"x"}'));
    expect(result.ok && Object.entries(result.headers)).toEqual([['__proto__', 'x']]);
  });

  it.each([
    [{ 'Bad Name': 'x' }, 'invalid_header_name'],
    [{ 'X:Colon': 'x' }, 'invalid_header_name'],
    [{ ['x'.repeat(257)]: 'x' }, 'invalid_header_name'],
    [{ 'X-Inject': 'a\r\nHost: evil' }, 'invalid_header_value'],
    [{ 'X-Nul': 'a\u0000b' }, 'invalid_header_value'],
    [{ 'X-Long': 'v'.repeat(1025) }, 'invalid_header_value'],
    [{ 'X-Number': 42 }, 'invalid_header_value'],
    [{ 'X-Euro': '€ 5' }, 'invalid_header_value'],
    [{ 'X-Emoji': '😀' }, 'invalid_header_value'],
    [{ Expect: '100-continue' }, 'reserved_header'],
    [{ 'Webhook-Id': 'x' }, 'reserved_header'],
    [{ 'X-Webhook-Signature': 'x' }, 'reserved_header'],
    [{ HOST: 'x' }, 'reserved_header'],
    [{ 'Transfer-Encoding': 'chunked' }, 'reserved_header'],
    [{ te: 'trailers' }, 'reserved_header'],
    [{ 'X-A': '1', 'x-a': '2' }, 'duplicate_header'],
    [
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`X-H${i}`, 'v'])),
      'too_many_headers',
    ],
    [['X-A'], 'invalid_headers'],
  ])('refuses %j with %s', (input, code) => {
    const result = validateCustomHeaders(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.code).toBe(code);
  });
});
