import { describe, expect, it } from 'vitest';
import { retryPending } from './redelivery.service.js';

describe('retryPending', () => {
  const due = new Date('2026-11-22T10:00:00Z');
  const at = (iso: string) => new Date(iso);

  it('is false once the last attempt scheduled nothing (succeeded, dead, skipped)', () => {
    expect(retryPending(null, at('2026-11-22T09:00:00Z'))).toBe(false);
  });

  it('holds before the retry is due, and while it is late but surely still on its topic', () => {
    expect(retryPending(due, at('2026-11-22T09:59:00Z'))).toBe(true);
    expect(retryPending(due, at('2026-11-23T09:59:59Z'))).toBe(true);
  });

  it('lapses a day past due, when the retry topic may have deleted the retry', () => {
    expect(retryPending(due, at('2026-11-23T10:00:00Z'))).toBe(false);
  });
});
