import type { RejectReason } from '@hookpost/contracts';

/**
 * Raw messages event-ingest must refuse: each one is malformed, hostile or oversized, and
 * must land on the dead-letter topic with a reason, never crash or stall the consumer.
 * Built around a real organisation id, so that only the flaw named makes them invalid.
 */
export interface HostileMessage {
  name: string;
  value: Buffer;
  headers?: Record<string, string>;
  /**
   * The reject reasons that fit the flaw: one, except where random content decides (random
   * bytes may happen to nest deeper than the limit before they fail to parse).
   */
  reasons: readonly RejectReason[];
}

/** A small deterministic generator (mulberry32), so a failing case can be reproduced. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function hostileMailEvents(options: {
  organizationId: string;
  maxEventBytes: number;
  seed?: number;
}): HostileMessage[] {
  const random = seededRandom(options.seed ?? 42);
  const org = options.organizationId;
  const now = new Date().toISOString();
  const canonical = (overrides: Record<string, unknown>, n: number) => ({
    id: `evt_hostile_${n}`,
    type: 'message.delivered',
    organization_id: org,
    occurred_at: now,
    data: { message_id: `hostile-${n}` },
    ...overrides,
  });
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const text = (value: string) => Buffer.from(value, 'utf8');
  const bytes = (length: number) =>
    Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
  const nested = (depth: number, open: string, close: string) =>
    text(open.repeat(depth) + close.repeat(depth));

  const cases: Array<[string, RejectReason[], Buffer, Record<string, string>?]> = [
    // Not JSON at all.
    ['empty', ['not_json'], Buffer.alloc(0)],
    ['whitespace', ['not_json'], text(' \n\t ')],
    ['random bytes, 16', ['not_json'], bytes(16)],
    ['random bytes, 1 KiB', ['not_json'], bytes(1_024)],
    ['random bytes, 64 KiB', ['not_json', 'schema_violation'], bytes(65_536)],
    [
      'invalid UTF-8',
      ['unknown_shape'],
      Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
    ],
    ['plain text', ['not_json'], text('delivered to ann@example.org')],
    ['truncated JSON', ['not_json'], text(JSON.stringify(canonical({}, 1)).slice(0, 40))],
    ['single quotes', ['not_json'], text("{'id': 'evt_x', 'type': 'message.delivered'}")],
    ['trailing comma', ['not_json'], text('{"id": "evt_x", "type": "message.delivered",}')],
    ['NaN literal', ['not_json'], text('{"id": NaN}')],
    [
      'byte order mark',
      ['not_json'],
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(canonical({}, 2))]),
    ],
    ['XML', ['not_json'], text('<event><type>message.delivered</type></event>')],
    ['NUL bytes', ['not_json'], Buffer.from([0, 0, 0, 0])],
    // JSON, but not an object of a known shape.
    ['null', ['unknown_shape'], text('null')],
    ['number', ['unknown_shape'], text('42')],
    ['huge number', ['unknown_shape'], text('1e400')],
    ['string', ['unknown_shape'], text('"message.delivered"')],
    ['boolean', ['unknown_shape'], text('true')],
    ['array of events', ['unknown_shape'], json([canonical({}, 3)])],
    ['empty object', ['unknown_shape'], text('{}')],
    ['unknown shape', ['unknown_shape'], json({ hello: 'world', when: now })],
    ['deeply nested arrays', ['schema_violation'], nested(50_000, '[', ']')],
    [
      'deeply nested objects',
      ['schema_violation'],
      text('{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000)),
    ],
    [
      'prototype pollution',
      ['unknown_shape'],
      text(`{"__proto__": {"polluted": true}, "constructor": {"prototype": {}}}`),
    ],
    // Too large.
    [
      'oversized string',
      ['too_large'],
      json(canonical({ data: { message_id: 'x'.repeat(options.maxEventBytes) } }, 4)),
    ],
    [
      'oversized array',
      ['too_large'],
      json(canonical({ data: { to: Array(options.maxEventBytes / 4).fill('a@b.c') } }, 5)),
    ],
    // Canonical shape with a flaw.
    ['unknown type', ['unknown_type'], json(canonical({ type: 'message.exploded' }, 6))],
    ['type of wrong kind', ['schema_violation'], json(canonical({ type: 7 }, 7))],
    [
      'type with injection',
      ['unknown_type'],
      json(canonical({ type: "message.delivered'; DROP TABLE subscriptions;--" }, 8)),
    ],
    ['type as emoji', ['unknown_type'], json(canonical({ type: '📬.delivered' }, 9))],
    [
      'type with right-to-left override',
      ['unknown_type'],
      json(canonical({ type: 'message.\u202edelivered' }, 10)),
    ],
    [
      'missing organisation',
      ['missing_organization'],
      json({ ...canonical({}, 11), organization_id: undefined }),
    ],
    [
      'unknown organisation',
      ['unknown_organization'],
      json(canonical({ organization_id: 'org_01JZZZZZZZZZZZZZZZZZZZZZZZ' }, 12)),
    ],
    [
      'organisation of wrong kind',
      ['schema_violation'],
      json(canonical({ organization_id: { $ne: null } }, 13)),
    ],
    [
      'organisation with injection',
      ['unknown_organization'],
      json(canonical({ organization_id: "org_x' OR '1'='1" }, 14)),
    ],
    [
      'organisation with NUL',
      ['schema_violation'],
      json(canonical({ organization_id: `${org}\u0000` }, 15)),
    ],
    [
      'organisation lone surrogate',
      ['schema_violation'],
      text(JSON.stringify(canonical({}, 16)).replace(org, `${org}\\ud800`)),
    ],
    ['id of wrong kind', ['schema_violation'], json(canonical({ id: { nested: true } }, 17))],
    ['id too long', ['schema_violation'], json(canonical({ id: `evt_${'9'.repeat(5_000)}` }, 18))],
    [
      'occurred_at not a date',
      ['schema_violation'],
      json(canonical({ occurred_at: 'yesterday' }, 19)),
    ],
    [
      'occurred_at of wrong kind',
      ['schema_violation'],
      json(canonical({ occurred_at: 1_700_000_000 }, 20)),
    ],
    [
      'occurred_at out of range',
      ['schema_violation'],
      json(canonical({ occurred_at: '+275760-09-13T00:00:00.001Z' }, 21)),
    ],
    [
      'occurred_at past the year 9999 in UTC',
      ['schema_violation'],
      json(canonical({ occurred_at: '9999-12-31T23:59:59-14:00' }, 28)),
    ],
    [
      // Postgres has no year 0: stored, it would stop the event log's inserts.
      'occurred_at in the year 0',
      ['schema_violation'],
      json(canonical({ occurred_at: '0000-06-01T00:00:00Z' }, 30)),
    ],
    [
      'occurred_at on a day that does not exist',
      ['schema_violation'],
      json(canonical({ occurred_at: '2026-02-30T00:00:00Z' }, 29)),
    ],
    ['data as a string', ['unknown_shape'], json(canonical({ data: 'message_id=abc' }, 22))],
    ['data as an array', ['unknown_shape'], json(canonical({ data: [1, 2, 3] }, 23))],
    [
      'data deeply nested',
      ['schema_violation'],
      text(
        JSON.stringify(canonical({ data: null }, 24)).replace(
          '"data":null',
          `"data":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
        ),
      ),
    ],
    [
      'recipient of wrong kind',
      ['schema_violation'],
      json(canonical({ data: { message_id: 'x', to: { evil: true } } }, 25)),
    ],
    // Otherwise valid, with text Postgres cannot store (the event log is jsonb).
    [
      'subject with NUL',
      ['schema_violation'],
      json(canonical({ data: { message_id: 'hostile-26', subject: 'a\u0000b' } }, 26)),
    ],
    [
      'subject with a lone surrogate',
      ['schema_violation'],
      text(
        JSON.stringify(
          canonical({ data: { message_id: 'hostile-27', subject: 'LONE' } }, 27),
        ).replace('LONE', '\\udc00 alone'),
      ),
    ],
    // Other shapes with a flaw.
    [
      'Paubox without event name',
      ['unknown_shape'],
      json({ payload: { messageId: 'p-1', recipient: 'a@b.c' } }),
    ],
    [
      'Paubox unknown event',
      ['schema_violation'],
      json({ event_name: 'api_mail_log_exploded', payload: { messageId: 'p-2' } }),
    ],
    [
      'Postal without payload',
      ['unknown_shape'],
      json({ event: 'MessageSent', timestamp: 1_700_000_000, uuid: 'u-1' }),
    ],
    [
      'Postal unknown event',
      ['unknown_type'],
      json({ event: 'MessageExploded', timestamp: 1_700_000_000, uuid: 'u-2', payload: {} }),
    ],
    [
      'generic unknown event',
      ['unknown_shape'],
      json({ event: 'exploded', email: 'a@b.c', timestamp: now, message_id: 'g-1' }),
    ],
    [
      'header organisation unknown',
      ['unknown_shape'],
      json({ event: 'delivered', email: 'a@b.c', timestamp: now, message_id: 'g-2' }),
      { 'organization-id': 'org_nobody' },
    ],
  ];
  return cases.map(([name, reasons, value, headers]) => ({
    name,
    reasons,
    value,
    ...(headers ? { headers } : {}),
  }));
}
