/**
 * Raw messages event-ingest must refuse: each one is malformed, hostile or oversized, and
 * must land on the dead-letter topic with a reason, never crash or stall the consumer.
 * Built around a real organisation id, so that only the flaw named makes them invalid.
 */
export interface HostileMessage {
  name: string;
  value: Buffer;
  headers?: Record<string, string>;
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

  const cases: Array<[string, Buffer, Record<string, string>?]> = [
    // Not JSON at all.
    ['empty', Buffer.alloc(0)],
    ['whitespace', text(' \n\t ')],
    ['random bytes, 16', bytes(16)],
    ['random bytes, 1 KiB', bytes(1_024)],
    ['random bytes, 64 KiB', bytes(65_536)],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])],
    ['plain text', text('delivered to ann@example.org')],
    ['truncated JSON', text(JSON.stringify(canonical({}, 1)).slice(0, 40))],
    ['single quotes', text("{'id': 'evt_x', 'type': 'message.delivered'}")],
    ['trailing comma', text('{"id": "evt_x", "type": "message.delivered",}')],
    ['NaN literal', text('{"id": NaN}')],
    ['byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(canonical({}, 2))])],
    ['XML', text('<event><type>message.delivered</type></event>')],
    ['NUL bytes', Buffer.from([0, 0, 0, 0])],
    // JSON, but not an object of a known shape.
    ['null', text('null')],
    ['number', text('42')],
    ['huge number', text('1e400')],
    ['string', text('"message.delivered"')],
    ['boolean', text('true')],
    ['array of events', json([canonical({}, 3)])],
    ['empty object', text('{}')],
    ['unknown shape', json({ hello: 'world', when: now })],
    ['deeply nested arrays', nested(50_000, '[', ']')],
    ['deeply nested objects', text('{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000))],
    [
      'prototype pollution',
      text(`{"__proto__": {"polluted": true}, "constructor": {"prototype": {}}}`),
    ],
    // Too large.
    [
      'oversized string',
      json(canonical({ data: { message_id: 'x'.repeat(options.maxEventBytes) } }, 4)),
    ],
    [
      'oversized array',
      json(canonical({ data: { to: Array(options.maxEventBytes / 4).fill('a@b.c') } }, 5)),
    ],
    // Canonical shape with a flaw.
    ['unknown type', json(canonical({ type: 'message.exploded' }, 6))],
    ['type of wrong kind', json(canonical({ type: 7 }, 7))],
    [
      'type with injection',
      json(canonical({ type: "message.delivered'; DROP TABLE subscriptions;--" }, 8)),
    ],
    ['type as emoji', json(canonical({ type: '📬.delivered' }, 9))],
    ['type with right-to-left override', json(canonical({ type: 'message.\u202edelivered' }, 10))],
    ['missing organisation', json({ ...canonical({}, 11), organization_id: undefined })],
    [
      'unknown organisation',
      json(canonical({ organization_id: 'org_01JZZZZZZZZZZZZZZZZZZZZZZZ' }, 12)),
    ],
    ['organisation of wrong kind', json(canonical({ organization_id: { $ne: null } }, 13))],
    ['organisation with injection', json(canonical({ organization_id: "org_x' OR '1'='1" }, 14))],
    ['organisation with NUL', json(canonical({ organization_id: `${org}\u0000` }, 15))],
    [
      'organisation lone surrogate',
      text(JSON.stringify(canonical({}, 16)).replace(org, `${org}\\ud800`)),
    ],
    ['id of wrong kind', json(canonical({ id: { nested: true } }, 17))],
    ['id too long', json(canonical({ id: `evt_${'9'.repeat(5_000)}` }, 18))],
    ['occurred_at not a date', json(canonical({ occurred_at: 'yesterday' }, 19))],
    ['occurred_at of wrong kind', json(canonical({ occurred_at: 1_700_000_000 }, 20))],
    [
      'occurred_at out of range',
      json(canonical({ occurred_at: '+275760-09-13T00:00:00.001Z' }, 21)),
    ],
    ['data as a string', json(canonical({ data: 'message_id=abc' }, 22))],
    ['data as an array', json(canonical({ data: [1, 2, 3] }, 23))],
    [
      'data deeply nested',
      text(
        JSON.stringify(canonical({ data: null }, 24)).replace(
          '"data":null',
          `"data":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
        ),
      ),
    ],
    [
      'recipient of wrong kind',
      json(canonical({ data: { message_id: 'x', to: { evil: true } } }, 25)),
    ],
    // Other shapes with a flaw.
    ['Paubox without event name', json({ payload: { messageId: 'p-1', recipient: 'a@b.c' } })],
    [
      'Paubox unknown event',
      json({ event_name: 'api_mail_log_exploded', payload: { messageId: 'p-2' } }),
    ],
    [
      'Postal without payload',
      json({ event: 'MessageSent', timestamp: 1_700_000_000, uuid: 'u-1' }),
    ],
    [
      'Postal unknown event',
      json({ event: 'MessageExploded', timestamp: 1_700_000_000, uuid: 'u-2', payload: {} }),
    ],
    [
      'generic unknown event',
      json({ event: 'exploded', email: 'a@b.c', timestamp: now, message_id: 'g-1' }),
    ],
    [
      'header organisation unknown',
      json({ event: 'delivered', email: 'a@b.c', timestamp: now, message_id: 'g-2' }),
      { 'organization-id': 'org_nobody' },
    ],
  ];
  return cases.map(([name, value, headers]) => ({ name, value, ...(headers ? { headers } : {}) }));
}
