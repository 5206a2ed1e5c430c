import { describe, expect, it } from 'vitest';
import { compileEventFilter, expandEventFilters, normalizeEventFilters } from './event-filters.js';

describe('event filters', () => {
  it.each([
    [
      ['delivered', 'bounced'],
      ['message.bounced', 'message.delivered'],
    ],
    [
      ['api_mail_log_opened', 'MessageSent', 'message.complaint'],
      ['message.complained', 'message.delivered', 'message.opened'],
    ],
    [['message.delivered', 'delivered', 'MessageSent'], ['message.delivered']],
    [
      ['message.*', 'message.bounced', 'domain.dns_error'],
      ['domain.dns_error', 'message.*'],
    ],
    [['message.*', '*'], ['*']],
    [['domain.*'], ['domain.*']],
  ])('normalises %j to %j', (input, filters) => {
    expect(normalizeEventFilters(input)).toEqual({ ok: true, filters });
  });

  it.each([
    [[]],
    ['delivered'],
    [['message.exploded']],
    [['nothing.*']],
    [[42]],
    [Array(51).fill('delivered')],
  ])('refuses %j', (input) => {
    const result = normalizeEventFilters(input);
    expect(result.ok).toBe(false);
  });

  it('names each unknown entry', () => {
    const result = normalizeEventFilters(['delivered', 'exploded', 'vanished']);
    expect(result).toEqual({
      ok: false,
      errors: [
        { code: 'invalid_event', message: 'unknown event type "exploded"' },
        { code: 'invalid_event', message: 'unknown event type "vanished"' },
      ],
    });
  });

  it('expands wildcards to concrete types and matches with them', () => {
    expect(expandEventFilters(['*'])).toHaveLength(11);
    expect(expandEventFilters(['domain.*'])).toEqual(['domain.dns_error']);
    const matches = compileEventFilter(['message.*']);
    expect(matches('message.clicked')).toBe(true);
    expect(matches('domain.dns_error')).toBe(false);
  });
});
