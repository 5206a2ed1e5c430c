import { describe, expect, it } from 'vitest';
import { toIso } from './source-event.js';

describe('toIso', () => {
  it('reads epoch seconds and ISO-8601 times with their offsets', () => {
    expect(toIso(1670907960.484763)).toBe('2022-12-13T05:06:00.484Z');
    expect(toIso('2024-01-15T10:30:05Z')).toBe('2024-01-15T10:30:05.000Z');
    expect(toIso('2024-01-15T10:30:05.25+05:30')).toBe('2024-01-15T05:00:05.250Z');
    expect(toIso('2024-01-15T10:30:05-0800')).toBe('2024-01-15T18:30:05.000Z');
    expect(toIso('2024-01-15T10:30')).toBe('2024-01-15T10:30:00.000Z');
  });

  it('reads a time without an offset as UTC, whatever the server’s time zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(toIso('2024-01-15T10:30:05')).toBe('2024-01-15T10:30:05.000Z');
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('refuses dates that do not exist instead of rolling them over', () => {
    for (const value of [
      '2024-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-01-15T24:00:00Z',
      '2024-01-15T10:60:00Z',
      '2024-13-01T00:00:00Z',
    ])
      expect(toIso(value), value).toBeUndefined();
    expect(toIso('2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
  });

  it('refuses times outside the years 0001 to 9999 in UTC, and what is not a time', () => {
    expect(toIso('9999-12-31T23:59:59-14:00')).toBeUndefined();
    expect(toIso('9999-12-31T23:59:59Z')).toBe('9999-12-31T23:59:59.000Z');
    expect(toIso('0000-01-01T00:00:00Z')).toBeUndefined();
    expect(toIso('0001-01-01T00:30:00+01:00')).toBeUndefined();
    expect(toIso('0000-12-31T23:30:00-01:00')).toBe('0001-01-01T00:30:00.000Z');
    for (const value of ['yesterday', '2024-01-15', '2024-01-15 10:30:05Z', '', 0, -5, 1e12, null])
      expect(toIso(value), String(value)).toBeUndefined();
  });
});
