import { HEADERS, TOPICS } from '@hookpost/contracts';
import type { IncomingMessage, OutgoingMessage } from '@hookpost/platform';
import { describe, expect, it } from 'vitest';
import { deadLetter } from './dead-letter.js';
import { originalOf } from './redrive.js';

function raw(value: Buffer, headers: Record<string, string>): IncomingMessage {
  return {
    topic: TOPICS.mailEvents,
    partition: 2,
    offset: '77',
    key: Buffer.from('<m1@example.org>'),
    value,
    headers,
    timestamp: 0,
  };
}

/** A dead letter as the dead-letter topic gives it back. */
function read(letter: OutgoingMessage): IncomingMessage {
  return {
    topic: letter.topic,
    partition: 0,
    offset: '5',
    key: letter.key === null ? null : Buffer.from(letter.key),
    value: Buffer.from(letter.value),
    headers: letter.headers ?? {},
    timestamp: 0,
  };
}

describe('originalOf', () => {
  it('gives back the raw message a dead letter holds: key, value and its own headers', () => {
    const message = raw(Buffer.from('{"type":"delivered"}'), {
      'organization-id': 'org_1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    const letter = read(deadLetter(message, 'missing_organization', 'no organisation', 1_048_588));
    expect(originalOf(letter)).toEqual({
      topic: TOPICS.mailEvents,
      key: '<m1@example.org>',
      value: message.value,
      headers: message.headers,
    });
  });

  it('gives nothing for a letter whose value was cut to fit the topic', () => {
    const message = raw(Buffer.alloc(20_000, 'x'), {});
    const letter = read(deadLetter(message, 'too_large', 'too large', 10_000));
    expect(letter.headers[HEADERS.originalBytes]).toBe('20000');
    expect(originalOf(letter)).toBeUndefined();
  });
});
