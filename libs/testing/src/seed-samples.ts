/**
 * The sample payloads of the documents Hookpost was specified from, as the sources
 * publish them (seeds 000/001: Paubox; 002: a generic email API; 003: Postal; 004:
 * Robotomail, whose docs name the event types but show no payload).
 */
export const paubox = {
  event_name: 'api_mail_log_permanent_failure',
  payload: {
    id: 5555555555,
    subject: 'Hello from the Paubox Email API',
    header_message_id: '<XXX430aa-9b7c-42d5-9614-2e38f5a3f71f@XXXXXXXXX.com>',
    source_tracking_id: 'XXXef39e-b376-4a44-b2b9-85bdb406dXXX',
    outbound_queue_id: 'XXXyFY0y3Yz2XXX',
    time: '2022-04-18T20:27:25.379Z',
    from: 'XXXXXX@XXXXXXX.com',
    to: 'recipient@example.com',
    custom_headers: { 'X-Custom-Header': 'value' },
  },
};

export const postalSent = {
  event: 'MessageSent',
  timestamp: 1670907960.484763,
  payload: {
    message: {
      id: 28,
      token: 'MWGhl8YadqgK',
      direction: 'outgoing',
      message_id: '20221211224752.067922@hostname.com',
      to: 'to@example.com',
      from: 'from@fromdomain.com',
      subject: 'This is the test subject.',
      timestamp: 1670779075.962122,
      spam_status: 'NotChecked',
      tag: null,
    },
    status: 'Sent',
    details: 'Message for to@example.com accepted by example.com (x.x.x.x)',
    output: '250 OK : queued as gh8lPitJTJxlLpUdwuBZzXVHpMwQ\n',
    sent_with_ssl: true,
    timestamp: 1670907960.308573,
    time: 0.83,
  },
  uuid: '31832909-22db-4b7d-8f09-93fd6853736b',
};

export const postalFailed = {
  event: 'MessageDeliveryFailed',
  timestamp: 1670911506.9640582,
  payload: {
    message: {
      id: 29,
      token: 'mQ2SFRlihhdG',
      direction: 'outgoing',
      message_id: '53f3957a-e072-427a-843c-f2444b81ee52@hostname.com',
      to: 'to@example.com',
      from: 'from@fromdomain.com',
      subject: 'This is the test subject.',
      timestamp: 1670911462.998097,
      spam_status: 'NotChecked',
      tag: null,
    },
    status: 'HardFail',
    details: 'Permanent SMTP delivery error when sending to example.com (x.x.x.x)',
    output: '550 \n',
    sent_with_ssl: true,
    timestamp: 1670911506.920094,
    time: 20.55,
  },
  uuid: '7e44eb7d-f30b-403c-92ec-0bd2884a5efa',
};

export const genericDelivered = {
  id: 'evt_xyz789',
  type: 'delivered',
  created_at: '2024-01-15T10:30:05Z',
  data: {
    email_id: 'msg_abc123',
    from: 'sender@yourdomain.com',
    to: 'recipient@example.com',
    subject: 'Hello',
    delivered_at: '2024-01-15T10:30:05Z',
  },
};

export const genericBounced = {
  id: 'evt_xyz790',
  type: 'bounced',
  created_at: '2024-01-15T10:30:05Z',
  data: {
    email_id: 'msg_abc123',
    from: 'sender@yourdomain.com',
    to: 'invalid@example.com',
    bounce_type: 'hard',
    bounce_code: '550',
    bounce_message: 'User unknown',
  },
};

export const robotomailComplaint = {
  id: 'evt_rm_0001',
  type: 'message.complaint',
  timestamp: '2025-06-01T08:00:00Z',
  data: {
    message_id: '<abc@robotomail.example>',
    from: 'bot@yourdomain.com',
    to: 'someone@example.org',
  },
};
