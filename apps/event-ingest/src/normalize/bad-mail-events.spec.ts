import { badMailEvents, BAD_FAMILIES, validMailEvents } from '@hookpost/testing';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalize, type NormalizeOptions } from './normalize.js';

/**
 * The generated bad-input corpus, judged by `normalize` itself: every message is refused
 * for one of the reasons its generator names, and the valid events sent around them are
 * accepted for the right organisation. The end-to-end test then only has to show the
 * services do the same on a real broker.
 */
const organizationId = 'org_01JBADINPUT0000000000000AA';
const senderDomain = 'bad-input-sender.example';
const maxEventBytes = 262_144;
const options: NormalizeOptions = {
  maxBytes: maxEventBytes,
  now: () => new Date('2026-01-01T00:00:00.000Z'),
  organizations: {
    has: (id) => id === organizationId,
    byDomain: (domain) => (domain === senderDomain ? organizationId : undefined),
  },
};

describe('the generated bad mail events', () => {
  const corpus = badMailEvents({ organizationId, maxEventBytes, count: 10_000, seed: 1 });

  it('holds at least 10,000 messages, every family among them', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(10_000);
    const families = new Set(corpus.map((m) => m.family));
    expect([...families].sort()).toEqual([...BAD_FAMILIES, 'hand-written'].sort());
    expect(corpus.filter((m) => m.value.length > maxEventBytes).length).toBeGreaterThanOrEqual(50);
  });

  it('is refused by normalize, every message for a reason its generator names', () => {
    const wrong = corpus.flatMap((message, index) => {
      const result = normalize(
        { value: message.value, organizationHeader: message.headers?.['organization-id'] },
        options,
      );
      if (!result.ok) {
        return message.reasons.includes(result.reason)
          ? []
          : [`#${index} ${message.family}: ${message.name}: ${result.reason} (${result.detail})`];
      }
      return [`#${index} ${message.family}: ${message.name}: accepted`];
    });
    expect(wrong).toEqual([]);
  });

  it('is the same for the same seed, and different for another', () => {
    const again = badMailEvents({ organizationId, maxEventBytes, count: 500, seed: 9 });
    const same = badMailEvents({ organizationId, maxEventBytes, count: 500, seed: 9 });
    const other = badMailEvents({ organizationId, maxEventBytes, count: 500, seed: 10 });
    // The hand-written cases carry the current time; the generated ones a fixed one.
    const digest = (list: typeof again) =>
      createHash('sha256')
        .update(
          list
            .map((m) => (m.family === 'hand-written' ? m.name : m.value.toString('base64')))
            .join('\n'),
        )
        .digest('hex');
    expect(digest(same)).toBe(digest(again));
    expect(digest(other)).not.toBe(digest(again));
  });
});

describe('the valid events sent among them', () => {
  it('are accepted for the organisation, their hostile text kept as it was', () => {
    const valid = validMailEvents({ organizationId, senderDomain, count: 500, tag: 'unit' });
    for (const event of valid) {
      const result = normalize(
        { value: event.value, organizationHeader: event.headers?.['organization-id'] },
        options,
      );
      expect(result, event.value.toString()).toMatchObject({
        ok: true,
        event: { organization_id: organizationId, data: { message_id: event.messageId } },
      });
      expect(result.ok && result.event.data.subject).toBe(event.subject);
    }
  });
});
