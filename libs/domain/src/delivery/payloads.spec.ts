import type { IngestedEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import { pauboxEventName, postalEventName, renderPayload, serialisePayload } from './payloads.js';

const event: IngestedEvent = {
  id: 'evt_0123456789abcdef',
  type: 'message.delivered',
  organization_id: 'org_1',
  occurred_at: '2026-01-01T00:00:00.000Z',
  received_at: '2026-01-01T00:00:01.000Z',
  source: { format: 'canonical' },
  data: { message_id: 'm1', to: 'b@example.org' },
};

describe('payloads', () => {
  it('renders the standard shape', () => {
    expect(renderPayload(event, 'standard')).toEqual({
      id: event.id,
      type: 'message.delivered',
      timestamp: event.occurred_at,
      data: event.data,
    });
  });

  it('serialises compactly, exactly as JSON.stringify does', () => {
    const body = serialisePayload(event, 'standard');
    expect(body).toBe(JSON.stringify(JSON.parse(body)));
    expect(body).not.toContain(' ');
  });

  it('uses the source systems names', () => {
    expect(pauboxEventName('message.delivered')).toBe('api_mail_log_delivered');
    expect(pauboxEventName('message.bounced')).toBe('api_mail_log_permanent_failure');
    expect(postalEventName('message.delivered')).toBe('MessageSent');
    expect(postalEventName('message.clicked')).toBe('MessageLinkClicked');
    expect(postalEventName('domain.dns_error')).toBe('DomainDNSError');
    expect(renderPayload(event, 'postal')).toMatchObject({
      event: 'MessageSent',
      timestamp: 1767225600,
      uuid: event.id,
    });
    expect(renderPayload(event, 'paubox')).toMatchObject({ event_name: 'api_mail_log_delivered' });
  });
});
