import { renderPayload } from '@hookpost/domain';
import { paubox, postalFailed, postalSent } from '@hookpost/testing';
import { describe, expect, it } from 'vitest';
import { normalize, type NormalizeOptions } from './normalize.js';

/**
 * A receiver written for Paubox or Postal gets, through Hookpost, what it would have got
 * from them: the ingest's mapping and the deliverer's rendering undo each other.
 */
const options: NormalizeOptions = {
  maxBytes: 65_536,
  now: () => new Date('2026-01-01T00:00:00.000Z'),
  organizations: { has: () => true, byDomain: () => 'org_1' },
};

function ingest(sample: unknown) {
  const result = normalize({ value: Buffer.from(JSON.stringify(sample)) }, options);
  if (!result.ok) throw new Error(`rejected: ${result.detail}`);
  return result.event;
}

describe('source formats, in and out again', () => {
  it('Paubox (seed 000): the same event name and payload', () => {
    expect(renderPayload(ingest(paubox), 'paubox')).toEqual(paubox);
  });

  it.each([
    ['MessageSent', postalSent],
    ['MessageDeliveryFailed', postalFailed],
  ])(
    'Postal (seed 003), %s: the message nested, status, details and output beside it',
    (_, sample) => {
      const out = renderPayload(ingest(sample), 'postal') as {
        event: string;
        timestamp: number;
        payload: Record<string, unknown>;
        uuid: string;
      };
      expect(out.event).toBe(sample.event);
      // Kept to the millisecond: the canonical time has no finer digits.
      expect(Math.abs(out.timestamp - sample.timestamp)).toBeLessThan(0.001);
      expect(out.payload).toEqual(sample.payload);
      expect(out.uuid).toBe(sample.uuid);
    },
  );

  it("Postal, MessageLinkClicked: the link's token beside the message's own", () => {
    const click = {
      event: 'MessageLinkClicked',
      timestamp: 1670911600.5,
      uuid: 'b6e2f0a4-0c55-4d0e-9a43-1c9e7d4a8f21',
      payload: {
        url: 'https://example.com/offer',
        token: 'lnk8Yq2Zr1Xw',
        ip_address: '198.51.100.7',
        user_agent: 'Mozilla/5.0',
        message: {
          id: 12345,
          token: 'MWGhl8YadqgK',
          direction: 'outgoing',
          message_id: '<abc@example.com>',
          to: 'b@example.org',
          from: 'a@yourdomain.com',
          subject: 'Hello',
          timestamp: 1670911462.998097,
          spam_status: 'NotChecked',
          tag: null,
        },
      },
    };
    const event = ingest(click);
    expect(event.type).toBe('message.clicked');
    // Names that an object's prototype also has are fields like any other.
    const odd = ingest({
      ...click,
      payload: { ...click.payload, constructor: 'c', toString: 't' },
    });
    expect(renderPayload(odd, 'postal')).toMatchObject({
      payload: { constructor: 'c', toString: 't' },
    });
    expect(event.data).toMatchObject({ token: 'MWGhl8YadqgK', link_token: 'lnk8Yq2Zr1Xw' });
    expect(renderPayload(event, 'postal')).toMatchObject({
      event: click.event,
      payload: click.payload,
      uuid: click.uuid,
    });
  });

  it('Postal: a bounce from another source gets the status Postal would give it', () => {
    const event = ingest({
      id: 'evt_src_0001',
      type: 'bounced',
      created_at: '2026-01-01T00:00:00Z',
      data: {
        email_id: 'msg_1',
        from: 'a@yourdomain.com',
        to: 'b@example.org',
        bounce_type: 'hard',
      },
    });
    expect(renderPayload(event, 'postal')).toMatchObject({
      event: 'MessageDeliveryFailed',
      payload: {
        message: { message_id: 'msg_1', from: 'a@yourdomain.com', to: 'b@example.org' },
        status: 'HardFail',
      },
    });
  });
});
