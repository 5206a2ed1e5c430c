import { describe, expect, it } from 'vitest';
import { jsonWithRawField } from './codec.js';

describe('jsonWithRawField', () => {
  it('adds the raw JSON as one more field, unchanged', () => {
    const raw = '{"id":"evt_1","data":{"to":"a@b.example","n":[1,2]},"odd key \\"q\\"":null}';
    const json = jsonWithRawField(
      { deliveryId: 'dlv_1', attempt: 1, note: 'a "quote"' },
      'event',
      raw,
    );
    expect(JSON.parse(json)).toEqual({
      deliveryId: 'dlv_1',
      attempt: 1,
      note: 'a "quote"',
      event: JSON.parse(raw),
    });
    expect(json.endsWith(`"event":${raw}}`)).toBe(true);
  });

  it('makes a valid object from no other fields', () => {
    expect(JSON.parse(jsonWithRawField({}, 'event', '[1]'))).toEqual({ event: [1] });
  });
});
