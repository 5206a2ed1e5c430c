import { isId } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import {
  genericBounced,
  genericDelivered,
  paubox,
  postalFailed,
  postalSent,
  robotomailComplaint,
} from '@hookpost/testing';
import { nestingDepth, normalize, normalizeBatch, type NormalizeOptions } from './normalize.js';

const organizations = new Map([
  ['org_1', ['yourdomain.com', 'fromdomain.com']],
  ['org_2', ['xxxxxxx.com']],
]);
const options: NormalizeOptions = {
  maxBytes: 4096,
  now: () => new Date('2026-01-01T00:00:00.000Z'),
  organizations: {
    has: (id) => organizations.has(id),
    byDomain: (domain) => [...organizations].find(([, domains]) => domains.includes(domain))?.[0],
  },
};
const raw = (value: unknown, organizationHeader?: string) => ({
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
  organizationHeader,
});

const canonical = {
  id: 'evt_0123456789abcdef',
  type: 'message.delivered',
  organization_id: 'org_1',
  occurred_at: '2026-01-01T00:00:00Z',
  data: { message_id: 'm1', from: 'a@example.com', to: 'b@example.org' },
};

describe('normalize: the four shapes, with the seeds samples', () => {
  it('canonical: keeps an evt_ id and the organisation it names', () => {
    expect(normalize(raw(canonical), options)).toMatchObject({
      ok: true,
      event: {
        id: canonical.id,
        type: 'message.delivered',
        organization_id: 'org_1',
        source: { format: 'canonical' },
      },
    });
  });

  it('Paubox: maps names and fields, and finds the organisation by sender domain', () => {
    const result = normalize(raw(paubox), options);
    expect(result).toMatchObject({
      ok: true,
      event: {
        type: 'message.bounced',
        organization_id: 'org_2',
        occurred_at: '2022-04-18T20:27:25.379Z',
        source: { format: 'paubox' },
        data: {
          message_id: '<XXX430aa-9b7c-42d5-9614-2e38f5a3f71f@XXXXXXXXX.com>',
          provider_message_id: 5555555555,
          subject: 'Hello from the Paubox Email API',
          to: 'recipient@example.com',
          source_tracking_id: 'XXXef39e-b376-4a44-b2b9-85bdb406dXXX',
          outbound_queue_id: 'XXXyFY0y3Yz2XXX',
          custom_headers: { 'X-Custom-Header': 'value' },
        },
      },
    });
  });

  it('Postal: delivered and failed, with SMTP output and bounce type', () => {
    expect(normalize(raw(postalSent), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.delivered',
        organization_id: 'org_1',
        occurred_at: new Date(1670907960484.763).toISOString(),
        data: {
          message_id: '20221211224752.067922@hostname.com',
          provider_message_id: 28,
          token: 'MWGhl8YadqgK',
          smtp_output: '250 OK : queued as gh8lPitJTJxlLpUdwuBZzXVHpMwQ\n',
          sent_with_ssl: true,
        },
      },
    });
    expect(normalize(raw(postalFailed), options)).toMatchObject({
      ok: true,
      event: { type: 'message.bounced', data: { bounce_type: 'hard', smtp_output: '550 \n' } },
    });
  });

  it('Postal: MessageBounced, whose bounced message is its original_message', () => {
    const bounced = {
      event: 'MessageBounced',
      timestamp: 1670911600.5,
      uuid: 'b6a1c1f0-0000-4000-8000-000000000001',
      payload: {
        original_message: postalFailed.payload.message,
        bounce: { ...postalFailed.payload.message, id: 30, from: 'mailer-daemon@example.com' },
      },
    };
    expect(normalize(raw(bounced), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.bounced',
        organization_id: 'org_1',
        data: {
          message_id: postalFailed.payload.message.message_id,
          provider_message_id: 29,
          from: 'from@fromdomain.com',
          to: 'to@example.com',
          bounce: { id: 30, from: 'mailer-daemon@example.com' },
        },
      },
    });
  });

  it('Postal: a message without a Message-ID header (message_id null) has none', () => {
    const result = normalize(
      raw({
        ...postalSent,
        payload: {
          ...postalSent.payload,
          message: { ...postalSent.payload.message, message_id: null },
        },
      }),
      options,
    );
    if (!result.ok) throw new Error(`rejected: ${result.detail}`);
    expect(result.event.data).not.toHaveProperty('message_id');
    expect(result.event.data).toMatchObject({ provider_message_id: 28, tag: null });
  });

  it('generic (seed 002): delivered and bounced', () => {
    expect(normalize(raw(genericDelivered), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.delivered',
        organization_id: 'org_1',
        data: { message_id: 'msg_abc123', delivered_at: '2024-01-15T10:30:05Z' },
      },
    });
    expect(normalize(raw(genericBounced), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.bounced',
        data: { bounce_type: 'hard', bounce_code: '550', bounce_message: 'User unknown' },
      },
    });
  });

  it('generic (seed 002): email_id is the message_id, unless a message_id comes with it', () => {
    const alone = normalize(raw(genericDelivered), options);
    expect(alone.ok && alone.event.data).toMatchObject({
      message_id: genericDelivered.data.email_id,
    });
    expect(alone.ok && alone.event.data).not.toHaveProperty('email_id');
    const both = { ...genericDelivered, data: { ...genericDelivered.data, message_id: '<m@x>' } };
    const kept = normalize(raw(both), options);
    expect(kept.ok && kept.event.data).toMatchObject({
      message_id: '<m@x>',
      email_id: genericDelivered.data.email_id,
    });
  });

  it('generic (seed 002): a soft bounce is message.delayed', () => {
    const soft = { ...genericBounced, data: { ...genericBounced.data, bounce_type: 'soft' } };
    expect(normalize(raw(soft), options)).toMatchObject({
      ok: true,
      event: { type: 'message.delayed', data: { bounce_type: 'soft', bounce_code: '550' } },
    });
  });

  it('generic (seed 002): takes numeric codes and ids, and hard and soft in any case', () => {
    const bounced = {
      ...genericBounced,
      data: { ...genericBounced.data, email_id: 12345, bounce_type: 'Hard', bounce_code: 550 },
    };
    expect(normalize(raw(bounced), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.bounced',
        data: { message_id: '12345', bounce_type: 'hard', bounce_code: 550 },
      },
    });
    const soft = { ...bounced, data: { ...bounced.data, bounce_type: 'SOFT' } };
    expect(normalize(raw(soft), options)).toMatchObject({
      ok: true,
      event: { type: 'message.delayed', data: { bounce_type: 'soft' } },
    });
    const transient = {
      ...bounced,
      data: { ...bounced.data, bounce_type: 'Transient', custom_headers: { 'X-Retry': 2 } },
    };
    expect(normalize(raw(transient), options)).toMatchObject({
      ok: true,
      event: {
        type: 'message.bounced',
        data: { bounce_type: 'Transient', custom_headers: { 'X-Retry': 2 } },
      },
    });
  });

  it('generic: an organization_id in the event is taken before the sender domain', () => {
    const named = { ...genericDelivered, organization_id: 'org_2' };
    expect(normalize(raw(named), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_2' },
    });
    expect(normalize(raw({ ...named, organization_id: 'org_nobody' }), options)).toMatchObject({
      ok: false,
      reason: 'unknown_organization',
    });
  });

  it('generic: the organization-id header is taken before an organization_id in the event', () => {
    const named = { ...genericDelivered, organization_id: 'org_nobody' };
    expect(normalize(raw(named, 'org_2'), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_2' },
    });
  });

  it('canonical: the organization_id in the event is taken before the header', () => {
    expect(normalize(raw(canonical, 'org_2'), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_1' },
    });
  });

  it('Robotomail (seed 004): message.complaint is message.complained', () => {
    expect(normalize(raw(robotomailComplaint), options)).toMatchObject({
      ok: true,
      event: { type: 'message.complained' },
    });
  });

  it('derives stable event ids from the source ids', () => {
    for (const sample of [paubox, postalSent, genericDelivered]) {
      const [first, second] = [normalize(raw(sample), options), normalize(raw(sample), options)];
      if (!first.ok || !second.ok) throw new Error('expected both accepted');
      expect(isId('event', first.event.id)).toBe(true);
      expect(first.event.id).toBe(second.event.id);
    }
    const other = normalize(raw({ ...postalSent, uuid: 'another' }), options);
    const one = normalize(raw(postalSent), options);
    if (!other.ok || !one.ok) throw new Error('expected both accepted');
    expect(other.event.id).not.toBe(one.event.id);
  });

  it('takes the organisation from the header when the message names none', () => {
    const stranger = {
      ...genericDelivered,
      data: { ...genericDelivered.data, from: 'x@unregistered.example' },
    };
    expect(normalize(raw(stranger, 'org_2'), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_2' },
    });
    expect(normalize(raw(stranger), options)).toMatchObject({
      ok: false,
      reason: 'missing_organization',
    });
  });

  it('takes an empty organization-id header for none, and falls back to the domain', () => {
    expect(normalize(raw(genericDelivered, ''), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_1' },
    });
  });

  it('finds the organisation of mail Postal marks incoming by its recipient', () => {
    // org_2's customer writes to org_1's mailbox; Postal reports the pass-on as sent mail.
    const incoming = {
      ...postalSent,
      payload: {
        ...postalSent.payload,
        message: {
          ...postalSent.payload.message,
          direction: 'incoming',
          from: 'someone@xxxxxxx.com',
          to: 'support@yourdomain.com',
        },
      },
    };
    expect(normalize(raw(incoming), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_1', data: { direction: 'incoming' } },
    });
    // Outgoing, the sender's organisation, and an address list read in full.
    const listed = { ...genericDelivered, data: { ...genericDelivered.data } };
    listed.data.from = 'Ann <ann@example.org>, news@xxxxxxx.com';
    expect(normalize(raw(listed), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_2' },
    });
  });

  it('matches subdomains of a registered domain', () => {
    const sub = {
      ...genericDelivered,
      data: { ...genericDelivered.data, from: 'News <news@mail.yourdomain.com>' },
    };
    expect(normalize(raw(sub), options)).toMatchObject({
      ok: true,
      event: { organization_id: 'org_1' },
    });
  });

  it.each([
    ['not json', '{', 'not_json'],
    ['empty', '', 'not_json'],
    ['an array', '[1,2]', 'unknown_shape'],
    ['a string', '"delivered"', 'unknown_shape'],
    ['an unknown shape', '{"hello":"world"}', 'unknown_shape'],
    ['an unknown type', JSON.stringify({ ...canonical, type: 'message.exploded' }), 'unknown_type'],
    [
      'an unknown Paubox event',
      JSON.stringify({ ...paubox, event_name: 'api_mail_log_exploded' }),
      'unknown_type',
    ],
    [
      'an unknown organisation',
      JSON.stringify({ ...canonical, organization_id: 'org_nobody' }),
      'unknown_organization',
    ],
    ['a bad date', JSON.stringify({ ...canonical, occurred_at: 'yesterday' }), 'schema_violation'],
    ['data not an object', JSON.stringify({ ...canonical, data: 'x' }), 'unknown_shape'],
    ['a wrong field type', JSON.stringify({ ...canonical, data: { to: 42 } }), 'schema_violation'],
    [
      'a DNS error whose message fields are not what the topic carries',
      JSON.stringify({ ...canonical, type: 'domain.dns_error', data: { message_id: 5 } }),
      'schema_violation',
    ],
    [
      'a Postal event without uuid',
      JSON.stringify({ ...postalSent, uuid: undefined }),
      'schema_violation',
    ],
    [
      'too large',
      JSON.stringify({ ...canonical, data: { subject: 'x'.repeat(5000) } }),
      'too_large',
    ],
  ])('rejects %s', (_name, value, reason) => {
    expect(normalize(raw(value), options)).toMatchObject({ ok: false, reason });
  });
});

describe('nestingDepth', () => {
  it('counts arrays and objects, not brackets inside strings', () => {
    expect(nestingDepth(Buffer.from('{"a":[1,{"b":2}]}'), 32)).toBe(3);
    expect(nestingDepth(Buffer.from('{"a":"[[[[{{{{ \\" [[["}'), 32)).toBe(1);
    expect(nestingDepth(Buffer.from('"plain"'), 32)).toBe(0);
  });

  it('stops as soon as the limit is passed', () => {
    const deep = Buffer.from('['.repeat(100_000) + ']'.repeat(100_000));
    expect(nestingDepth(deep, 32)).toBe(33);
  });
});

describe('normalize, hostile input', () => {
  it('rejects deep nesting before parsing, and never throws', () => {
    const deepData = `{"id":"evt_x","type":"message.delivered","organization_id":"org_x","occurred_at":"2026-01-01T00:00:00Z","data":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
    const result = normalize({ value: Buffer.from(deepData) }, { ...options, maxBytes: 1_000_000 });
    expect(result).toMatchObject({ ok: false, reason: 'schema_violation' });
  });
});

describe('normalize, text Postgres cannot store', () => {
  const withSubject = (subject: string) =>
    raw(
      JSON.stringify({ ...canonical, data: { ...canonical.data, subject: 'x' } }).replace(
        '"subject":"x"',
        `"subject":"${subject}"`,
      ),
    );

  it('refuses a NUL or an unpaired surrogate, naming where it is', () => {
    expect(normalize(withSubject('a\\u0000b'), options)).toEqual({
      ok: false,
      reason: 'schema_violation',
      detail: 'data.subject holds a NUL character (\\u0000), which cannot be stored',
    });
    expect(normalize(withSubject('\\ud800 alone'), options)).toEqual({
      ok: false,
      reason: 'schema_violation',
      detail: 'data.subject holds an unpaired UTF-16 surrogate, which cannot be stored',
    });
    const inKey = raw({
      ...canonical,
      data: { ...canonical.data, tags: ['ok', { 'a\u0000': 1 }] },
    });
    expect(normalize(inKey, options)).toMatchObject({
      ok: false,
      detail: 'a key in data.tags[1] holds a NUL character (\\u0000), which cannot be stored',
    });
  });

  it('takes surrogate pairs written as escapes, and an escaped backslash before u0000', () => {
    const emoji = normalize(withSubject('Hi \\ud83d\\ude00'), options);
    expect(emoji).toMatchObject({ ok: true, event: { data: { subject: 'Hi 😀' } } });
    const literal = normalize(withSubject('C:\\\\u0000'), options);
    expect(literal).toMatchObject({ ok: true, event: { data: { subject: 'C:\\u0000' } } });
  });
});

describe('normalizeBatch', () => {
  it('judges again, once the directory has read on, what it refused for want of a tenant', async () => {
    // The directory learns of org_3 and its domain only when it catches up.
    const known = new Map<string, string>();
    const lagging: NormalizeOptions = {
      ...options,
      organizations: {
        has: (id) => organizations.has(id) || [...known.values()].includes(id),
        byDomain: (domain) => known.get(domain) ?? options.organizations.byDomain(domain),
      },
    };
    let catchUps = 0;
    const catchUp = async () => {
      catchUps++;
      known.set('new.example', 'org_3');
    };
    const byDomain = { ...canonical, organization_id: undefined };
    const results = await normalizeBatch(
      [
        raw(canonical),
        raw({ ...byDomain, id: 'evt_fromnewdomain1', data: { from: 'a@new.example' } }),
        raw({ ...canonical, id: 'evt_fornewtenant01', organization_id: 'org_3' }),
        raw({ ...byDomain, id: 'evt_fromnowhere001', data: { from: 'a@nowhere.example' } }),
      ],
      lagging,
      catchUp,
    );
    expect(catchUps).toBe(1);
    expect(results.map((r) => (r.ok ? r.event.organization_id : r.reason))).toEqual([
      'org_1',
      'org_3',
      'org_3',
      'missing_organization',
    ]);
    // A batch whose every tenant is known does not wait.
    await normalizeBatch([raw(canonical)], lagging, catchUp);
    expect(catchUps).toBe(1);
  });
});

describe('normalize, text that is not JSON', () => {
  it('says what is wrong without quoting the text', () => {
    expect(normalize(raw('alice@example.org wrote this'), options)).toEqual({
      ok: false,
      reason: 'not_json',
      detail: "not valid JSON: Unexpected token 'a'",
    });
    expect(normalize(raw('{"to":"bob@example.org",}'), options)).toEqual({
      ok: false,
      reason: 'not_json',
      detail: 'not valid JSON: Expected double-quoted property name at position 24',
    });
    expect(normalize(raw('{"subject":"Secret plans'), options)).toMatchObject({
      detail: 'not valid JSON: Unterminated string at position 24',
    });
  });
});
