import { HEADERS, TOPICS } from '@hookpost/contracts';
import { sizeOf, type IncomingMessage } from '@hookpost/platform';
import { describe, expect, it } from 'vitest';
import { deadLetter } from './dead-letter.js';

const LIMIT = 1_048_588;

function raw(valueBytes: number, headers: Record<string, string> = {}): IncomingMessage {
  return {
    topic: TOPICS.mailEvents,
    partition: 3,
    offset: '1234',
    key: Buffer.from('msg-1'),
    value: Buffer.alloc(valueBytes, 'x'),
    headers,
    timestamp: 0,
  };
}

/** What the broker counts, give or take: the record's bytes and the batch around it. */
const recordBytes = (letter: ReturnType<typeof deadLetter>) =>
  sizeOf(letter) + 61 + 10 * (1 + Object.keys(letter.headers ?? {}).length);

describe('deadLetter', () => {
  it('copies a raw message unchanged, with why and where from', () => {
    const message = raw(2_000, { 'organization-id': 'org_1' });
    const letter = deadLetter(message, 'not_json', 'Unexpected token', LIMIT);
    expect(letter).toEqual({
      topic: TOPICS.mailEventsDeadLetter,
      key: 'msg-1',
      value: message.value,
      headers: {
        'organization-id': 'org_1',
        [HEADERS.rejectReason]: 'not_json',
        [HEADERS.rejectDetail]: 'Unexpected token',
        [HEADERS.sourceTopic]: TOPICS.mailEvents,
        [HEADERS.sourcePartition]: '3',
        [HEADERS.sourceOffset]: '1234',
      },
    });
  });

  it("cuts the value of a message near the topic's limit to fit, and tells its full size", () => {
    // As large as mail-events takes: key, value and one header in one record.
    const message = raw(LIMIT - 200, { 'organization-id': 'org_1' });
    const letter = deadLetter(message, 'too_large', 'over the limit', LIMIT);
    expect(recordBytes(letter)).toBeLessThanOrEqual(LIMIT);
    expect(letter.headers?.[HEADERS.originalBytes]).toBe(String(LIMIT - 200));
    expect(letter.headers?.['organization-id']).toBe('org_1');
    expect(letter.key).toBe('msg-1');
    const value = letter.value as Buffer;
    expect(value.length).toBeGreaterThan(LIMIT - 3_000);
    expect(message.value?.subarray(0, value.length).equals(value)).toBe(true);
  });

  it('drops the copied headers, then the key, when even an empty value does not fit', () => {
    const limit = 4_096;
    const headers = { big: 'h'.repeat(5_000) };
    const withoutHeaders = deadLetter(raw(100, headers), 'not_json', 'bad', limit);
    expect(recordBytes(withoutHeaders)).toBeLessThanOrEqual(limit);
    expect(withoutHeaders.headers).not.toHaveProperty('big');
    expect(withoutHeaders.headers?.[HEADERS.originalBytes]).toBe('100');
    expect(withoutHeaders.key).toBe('msg-1');

    const hugeKey = { ...raw(100, headers), key: Buffer.alloc(5_000, 'k') };
    const withoutKey = deadLetter(hugeKey, 'not_json', 'bad', limit);
    expect(recordBytes(withoutKey)).toBeLessThanOrEqual(limit);
    expect(withoutKey.key).toBeNull();
    expect(withoutKey.headers?.[HEADERS.rejectReason]).toBe('not_json');
  });

  it('dead-letters an empty message as an empty value', () => {
    const letter = deadLetter({ ...raw(0), value: null }, 'not_json', 'empty message', LIMIT);
    expect(letter.value).toEqual(Buffer.alloc(0));
  });
});
