import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhooksGrpc } from './grpc-client.js';
import { http, serviceHealth, startPipeline, tenant, type Pipeline } from './pipeline.js';

/**
 * Generated bad requests, over REST and gRPC, with valid ones mixed in: every bad one
 * gets the error of the API contract (its status, `{"error": {code, message, details}}`
 * with a message naming the problem; over gRPC the mapped status), never a 5xx and
 * never a hang; every valid one succeeds; the services stay up. The requests come from
 * a seeded generator: BAD_REQUESTS_SEED replays a run.
 */
const SEED = Number(process.env.BAD_REQUESTS_SEED ?? 20261201);
const REST_CASES = 1_200;
const GRPC_CASES = 400;
const IN_FLIGHT = 8;
const TIMEOUT_MS = 10_000;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  const text = (length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789') =>
    Array.from({ length }, () => alphabet[int(alphabet.length)]).join('');
  return { int, pick, text };
}
type Random = ReturnType<typeof seeded>;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

interface Expected {
  status: number;
  code: string;
  /** What the error (message or details) must name: all of it. */
  names: string | RegExp | Array<string | RegExp>;
}

interface RestCase {
  label: string;
  method: string;
  path: string;
  /** `admin` sends the operator token, `none` no credential; else the API key. */
  auth?: 'key' | 'admin' | 'none' | { bearer: string };
  headers?: Record<string, string>;
  /** A value is sent as JSON; a string or bytes exactly as given. */
  body?: unknown;
  raw?: string | Uint8Array;
  expect: Expected | { ok: number };
}

interface GrpcCase {
  label: string;
  method: string;
  request?: Record<string, unknown>;
  bytes?: Buffer;
  key?: 'key' | 'none' | 'wrong';
  expect: { code: grpc.status; names: string | RegExp } | { ok: true };
}

/** What every generator needs: ids of things that exist. */
interface World {
  webhookId: string;
  organizationId: string;
}

/**
 * 422: what the error must name, the bad field first when there is one. Its code is
 * `invalid_<field>` for one field (the contract's example is `invalid_url`), at top level.
 */
const invalid = (names: Expected['names']): Expected => {
  const [first] = [names].flat();
  const field = typeof first === 'string' ? first.split('.')[0]! : '';
  return {
    status: 422,
    code: /^[a-z][a-z0-9_]*$/.test(field) ? `invalid_${field}` : 'validation_failed',
    names,
  };
};

/**
 * `whsec_` secrets whose base64 part verifiers would refuse, or that would key the HMAC
 * with almost nothing (Node decodes `whsec_!!!…` to an empty key).
 */
const BAD_WHSEC = ['whsec_!!!!!!!!!!!!!!!!', 'whsec_hello_world_2024_abc', 'whsec_QUJDREVGR0g='];

const BAD_URLS: Array<[string, string]> = [
  ['ftp://files.example/hook', 'https'],
  ['javascript:alert(1)', 'https'],
  ['file:///etc/passwd', 'https'],
  ['gopher://127.0.0.1:70/_', 'https'],
  ['//no-scheme.example/hook', 'absolute URL'],
  ['not a url', 'absolute URL'],
  ['', 'absolute URL'],
  ['http://', 'absolute URL'],
  ['http://127.0.0.1:99999/hook', 'absolute URL'],
  ['http://exa mple.com/hook', 'absolute URL'],
  ['https://user:secret@127.0.0.1/hook', 'credentials'],
  ['http://10.0.0.1/hook', 'private'],
  ['http://169.254.169.254/latest/meta-data/', 'private'],
  ['http://[::1]:8080/hook', 'private'],
  ['http://0x7f000002/hook', 'private'],
  ['http://nowhere.invalid/hook', 'does not resolve'],
  [`https://${'a'.repeat(2100)}.example/`, '2048'],
];

const BAD_EVENTS: unknown[] = [
  ['message.nope'],
  ['*.*'],
  [''],
  ['message.'],
  ['message.delivered', 'bogus'],
  ["message.delivered' OR '1'='1"],
  ['${jndi:ldap://evil.example/a}'],
  ['<script>alert(1)</script>'],
  ['message.\u202edelivered'],
  ['ｍｅｓｓａｇｅ.delivered'],
  Array.from({ length: 51 }, () => 'message.delivered'),
  [],
  'message.delivered',
  [1],
  [null],
  {},
];

/** Strings no field can hold: a NUL, lone surrogates. */
const UNSTORABLE = ['a\u0000b', '\ud800', 'x\udc00y', '\u0000'];

const MALFORMED_JSON = [
  '{',
  '{"url":',
  "{'url': 'http://127.0.0.1:9/x'}",
  '{"a":1,}',
  '{"a" 1}',
  'NaN',
  '{"a":NaN}',
  'undefined',
  '{"a":1}}',
  '{"a":"\u0001"}',
  '// comment\n{}',
  '\ufeff{',
  '{"url":"http://127.0.0.1:9/x","events":["message.delivered"]',
];

const BAD_IF_MATCH = ['abc', '1,2', 'W/', '"99999999999"', '"-1"', '"1.0"', '" "', 'null', '*1'];

const BAD_LIMITS = ['0', '-1', '101', '1.5', 'abc', '', '1e9', 'NaN', 'Infinity', '0x', ' '];

function webhookBody(random: Random): Record<string, unknown> {
  return {
    url: `http://127.0.0.1:9/bad-requests/${random.text(6)}`,
    events: ['message.delivered'],
  };
}

/** The routes that create or replace a webhook from a body. */
const writes = (w: World) =>
  [
    ['POST', '/v1/webhooks'],
    ['PUT', `/v1/webhooks/${w.webhookId}`],
  ] as const;

/** Each generator makes one bad (or, for `valid`, good) REST request. */
const REST_GENERATORS: Array<(r: Random, w: World) => RestCase> = [
  function malformedJson(r, w) {
    const [method, path, auth] = r.pick([
      ['POST', '/v1/webhooks', 'key'],
      ['PATCH', `/v1/webhooks/${w.webhookId}`, 'key'],
      ['PUT', `/v1/webhooks/${w.webhookId}`, 'key'],
      ['POST', `/v1/webhooks/${w.webhookId}/test`, 'key'],
      ['POST', `/v1/webhooks/${w.webhookId}/replay`, 'key'],
      ['POST', `/v1/webhooks/${w.webhookId}/rotate-secret`, 'key'],
      ['POST', '/v1/organizations', 'admin'],
      ['PATCH', `/v1/organizations/${w.organizationId}`, 'admin'],
      ['POST', `/v1/organizations/${w.organizationId}/api-keys`, 'admin'],
    ] as const);
    const valid = JSON.stringify(webhookBody(r));
    const raw =
      r.int(3) === 0 ? valid.slice(0, 1 + r.int(valid.length - 1)) : r.pick(MALFORMED_JSON);
    return {
      label: `malformed JSON ${JSON.stringify(raw.slice(0, 40))}`,
      method,
      path,
      auth,
      headers: { 'content-type': 'application/json' },
      raw,
      expect: { status: 400, code: 'invalid_json', names: 'not valid JSON' },
    };
  },
  function notAnObject(r, w) {
    const raw = r.pick(['[]', '[1,2]', '[{"url":"x"}]', '"hello"', 'null', '42', 'true']);
    return {
      label: `body ${raw}, not an object`,
      method: 'POST',
      path: r.pick([
        '/v1/webhooks',
        `/v1/webhooks/${w.webhookId}/replay`,
        `/v1/webhooks/${w.webhookId}/pause`,
        `/v1/webhooks/${w.webhookId}/resume`,
      ]),
      headers: { 'content-type': 'application/json' },
      raw,
      expect: { status: 400, code: 'invalid_body', names: 'JSON object' },
    };
  },
  function wrongTypes(r, w) {
    const wrong: Record<string, unknown[]> = {
      url: [123, true, [], {}, null],
      events: BAD_EVENTS.filter(
        (e) => !Array.isArray(e) || e.length !== 1 || typeof e[0] !== 'string',
      ),
      description: [5, [], {}, true, 'd'.repeat(501)],
      headers: ['x', 5, [], true],
      scope: [
        'x',
        5,
        [],
        { domains: 'x' },
        { domains: [5] },
        { mailboxes: ['not-an-email'] },
        { extra: 1 },
      ],
      format: ['xml', 5, '', null, 'STANDARD'],
      rate_limit: [0, -1, 1.5, 10_001, '5', true, [], {}, 1e20],
      metadata: [
        'x',
        5,
        [],
        true,
        { a: 5 },
        { '': 'x' },
        { ['k'.repeat(41)]: 'v' },
        { a: 'v'.repeat(501) },
      ],
      secret: [5, 'short', 's'.repeat(201), null, ...BAD_WHSEC],
    };
    const [method, path] = r.pick([
      ['POST', '/v1/webhooks'],
      ['PATCH', `/v1/webhooks/${w.webhookId}`],
      ['PUT', `/v1/webhooks/${w.webhookId}`],
    ] as const);
    // Only a new webhook takes a secret.
    const field = r.pick(Object.keys(wrong).filter((f) => method === 'POST' || f !== 'secret'));
    const value = r.pick(wrong[field]!);
    const body = method === 'PATCH' ? { [field]: value } : { ...webhookBody(r), [field]: value };
    return {
      label: `${method} ${field} = ${JSON.stringify(value)?.slice(0, 40)}`,
      method,
      path,
      body,
      expect: invalid(field),
    };
  },
  function missingFields(r, w) {
    const [method, path, body, field] = r.pick([
      ['POST', '/v1/webhooks', {}, 'url, events'],
      ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/x' }, 'events'],
      ['POST', '/v1/webhooks', { events: ['message.delivered'] }, 'url'],
      ['POST', `/v1/webhooks/${w.webhookId}/replay`, {}, 'since'],
      ['POST', `/v1/webhooks/${w.webhookId}/replay`, { until: new Date().toISOString() }, 'since'],
    ] as const);
    return {
      label: `${method} without ${field}`,
      method,
      path,
      body,
      expect: invalid(field),
    };
  },
  function extraFields(r, w) {
    const key = r.pick([
      'color',
      'id',
      'version',
      'organization_id',
      'constructor',
      '__proto__',
      'URL',
      'events ',
      'status',
      r.text(12),
    ]);
    const [method, path, body] = r.pick([
      ['POST', '/v1/webhooks', webhookBody(r)],
      ['PATCH', `/v1/webhooks/${w.webhookId}`, { description: 'extra' }],
      ['POST', `/v1/webhooks/${w.webhookId}/test`, {}],
      ['POST', `/v1/webhooks/${w.webhookId}/rotate-secret`, {}],
      ['POST', `/v1/webhooks/${w.webhookId}/pause`, {}],
      ['POST', `/v1/webhooks/${w.webhookId}/resume`, {}],
    ] as const);
    const raw = `${JSON.stringify(body).slice(0, -1)}${Object.keys(body).length ? ',' : ''}${JSON.stringify(key)}:1}`;
    return {
      label: `${method} ${path} with unknown field ${JSON.stringify(key)}`,
      method,
      path,
      headers: { 'content-type': 'application/json' },
      raw,
      expect: invalid(key),
    };
  },
  function hugeBody(r, w) {
    const size = 300_000 + r.int(700_000);
    const [method, path] = r.pick(writes(w));
    return {
      label: `body of ${size} bytes`,
      method,
      path,
      body: { ...webhookBody(r), description: 'x'.repeat(size) },
      expect: { status: 413, code: 'payload_too_large', names: /too large/i },
    };
  },
  function longStrings(r, _w) {
    const [body, field] = r.pick([
      [{ ...webhookBody(r), description: 'd'.repeat(501 + r.int(20_000)) }, 'description'],
      [{ ...webhookBody(r), url: `http://127.0.0.1:9/${'u'.repeat(2049 + r.int(20_000))}` }, 'url'],
      [
        {
          ...webhookBody(r),
          headers: Object.fromEntries(
            Array.from({ length: 11 + r.int(20) }, (_, i) => [`X-H${i}`, 'v']),
          ),
        },
        'headers',
      ],
      [{ ...webhookBody(r), headers: { 'X-Long': 'v'.repeat(1025 + r.int(5_000)) } }, 'headers'],
      [{ ...webhookBody(r), headers: { [`X-${'n'.repeat(300)}`]: 'v' } }, 'headers'],
      [
        {
          ...webhookBody(r),
          scope: { domains: Array.from({ length: 101 }, (_, i) => `d${i}.example`) },
        },
        'scope.domains',
      ],
    ] as const);
    return {
      label: `long ${field}`,
      method: 'POST',
      path: '/v1/webhooks',
      body,
      expect: invalid(field),
    };
  },
  function badWebhookIds(r, w) {
    const id = r.pick([
      `wh_${r.text(26, CROCKFORD)}`,
      'wh_123',
      'nope',
      '%27%20OR%201%3D1--',
      '..%2F..%2Fetc%2Fpasswd',
      '%00',
      'wh_%F0%9F%92%A9',
      'a'.repeat(2_000),
      `WH_${w.webhookId.slice(3)}`,
      `${w.webhookId}%20`,
      '0',
      '-1',
      'null',
      '%E2%80%AE',
      '%3Cscript%3E',
    ]);
    const [method, suffix, body] = r.pick([
      ['GET', '', undefined],
      ['PATCH', '', { description: 'x' }],
      ['PUT', '', { url: 'http://127.0.0.1:9/x', events: ['message.delivered'] }],
      ['DELETE', '', undefined],
      ['POST', '/pause', undefined],
      ['POST', '/resume', undefined],
      ['POST', '/rotate-secret', {}],
      ['POST', '/test', {}],
      ['GET', '/logs', undefined],
      ['POST', '/replay', { since: '2026-01-01T00:00:00Z' }],
      ['POST', `/deliveries/del_${r.text(26, CROCKFORD)}/retry`, undefined],
    ] as const);
    return {
      label: `${method} webhook ${id.slice(0, 30)}${suffix}`,
      method,
      path: `/v1/webhooks/${id}${suffix}`,
      body,
      expect: { status: 404, code: 'not_found', names: 'webhook not found' },
    };
  },
  function badOtherIds(r, w) {
    const bad = r.pick(['nope', '%00', `del_${r.text(26)}`, 'x'.repeat(500), '%27--']);
    return r.pick<RestCase>([
      {
        label: `retry delivery ${bad.slice(0, 20)}`,
        method: 'POST',
        path: `/v1/webhooks/${w.webhookId}/deliveries/${bad}/retry`,
        expect: { status: 404, code: 'not_found', names: 'delivery not found' },
      },
      {
        label: `organisation ${bad.slice(0, 20)}`,
        method: 'PATCH',
        path: `/v1/organizations/org_${bad}`,
        auth: 'admin',
        body: { name: 'x' },
        expect: { status: 404, code: 'not_found', names: 'organization not found' },
      },
      {
        label: `get organisation ${bad.slice(0, 20)}`,
        method: r.pick(['GET', 'DELETE']),
        path: `/v1/organizations/org_${bad}`,
        auth: 'admin',
        expect: { status: 404, code: 'not_found', names: 'organization not found' },
      },
      {
        label: `organisation's keys ${bad.slice(0, 20)}`,
        method: 'GET',
        path: `/v1/organizations/${bad}/api-keys`,
        auth: 'admin',
        expect: { status: 404, code: 'not_found', names: 'organization not found' },
      },
      {
        label: `API key ${bad.slice(0, 20)}`,
        method: 'DELETE',
        path: `/v1/organizations/${w.organizationId}/api-keys/${bad}`,
        auth: 'admin',
        expect: { status: 404, code: 'not_found', names: 'API key not found' },
      },
      {
        label: `message ${bad.slice(0, 20)}`,
        method: 'GET',
        path: `/v1/messages/${bad}/events`,
        expect: { status: 404, code: 'not_found', names: 'message not found' },
      },
      {
        label: `erasing message ${bad.slice(0, 20)}`,
        method: 'DELETE',
        path: `/v1/messages/${bad}/events`,
        expect: { status: 404, code: 'not_found', names: 'message not found' },
      },
    ]);
  },
  function undecodablePath(r, w) {
    const bad = r.pick(['%FF', '%E0%A4%A', '%', '%C0%AF', '%ED%A0%80']);
    return {
      label: `undecodable path segment ${bad}`,
      method: 'GET',
      path: r.pick([
        `/v1/webhooks/${bad}`,
        `/v1/messages/${bad}/events`,
        `/v1/webhooks/${w.webhookId}/deliveries/${bad}/retry`,
      ]),
      expect: { status: 400, code: 'bad_request', names: 'decode' },
    };
  },
  function badQuery(r, w) {
    const path = r.pick([
      '/v1/webhooks',
      `/v1/webhooks/${w.webhookId}/logs`,
      `/v1/webhooks/${w.webhookId}/history`,
      '/v1/event-types',
      `/v1/messages/${encodeURIComponent(`<q-${r.text(5)}@x.example>`)}/events`,
    ]);
    const [query, names] = r.pick<[string, Expected['names']]>([
      [`limit=${encodeURIComponent(r.pick(BAD_LIMITS))}`, 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['limit[x]=1', 'limit[x]'],
      [
        `cursor=${encodeURIComponent(r.pick(['x', 'wh_bad', "' OR 1=1--", 'message.nope', '12345678901234567890', '9999999999999999999', r.text(30)]))}`,
        'cursor',
      ],
      ['cursor=%00', 'cursor'],
      // An unknown parameter is named itself.
      ((unknown) => [
        `${unknown}=1`,
        [unknown, new RegExp(`"field":"${unknown}","code":"unknown_field"`)],
      ])(r.pick(['foo', 'offset', 'page', 'sort', 'LIMIT'])),
    ]);
    return {
      label: `GET ${path.split('/')[2]} ?${query.slice(0, 40)}`,
      method: 'GET',
      path: `${path}?${query}`,
      expect: invalid(names),
    };
  },
  function badOperatorQuery(r, w) {
    const keys = r.int(2) === 0;
    const [query, names] = r.pick<[string, Expected['names']]>([
      [`limit=${encodeURIComponent(r.pick(BAD_LIMITS))}`, 'limit'],
      [`cursor=${encodeURIComponent(r.pick(['x', 'wh_bad', "' OR 1=1--", r.text(30)]))}`, 'cursor'],
      keys
        ? [`include_revoked=${r.pick(['yes', '1', 'TRUE', ''])}`, 'include_revoked']
        : [`domain=${encodeURIComponent(r.pick(['not a domain', 'x', '-a.example']))}`, 'domain'],
      ((unknown) => [
        `${unknown}=1`,
        [unknown, new RegExp(`"field":"${unknown}","code":"unknown_field"`)],
      ])(r.pick(['foo', 'offset', 'name'])),
    ]);
    const path = keys ? `/v1/organizations/${w.organizationId}/api-keys` : '/v1/organizations';
    return {
      label: `operator GET ${keys ? 'api-keys' : 'organizations'} ?${query.slice(0, 40)}`,
      method: 'GET',
      path: `${path}?${query}`,
      auth: 'admin',
      expect: invalid(names),
    };
  },
  function badContentType(r, w) {
    const body = JSON.stringify(webhookBody(r));
    const [headers, raw, names] = r.pick<[Record<string, string>, string | Uint8Array, string]>([
      [{ 'content-type': 'text/plain' }, body, 'content-type'],
      [
        { 'content-type': 'application/x-www-form-urlencoded' },
        'url=http%3A%2F%2F127.0.0.1%3A9%2Fx&events=message.delivered',
        'content-type',
      ],
      [{ 'content-type': 'application/xml' }, '<webhook/>', 'content-type'],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\n\r\n--x--', 'content-type'],
      [{}, new TextEncoder().encode(body), 'content-type'],
      [{ 'content-type': 'application/json; charset=latin1' }, body, 'charset'],
      [{ 'content-type': 'application/json; charset=utf-16' }, body, 'charset'],
    ]);
    const [method, path] = r.pick(writes(w));
    return {
      label: `content-type ${headers['content-type'] ?? '(none)'}`,
      method,
      path,
      headers,
      raw,
      expect: { status: 415, code: 'unsupported_media_type', names },
    };
  },
  function badIfMatch(r, w) {
    const stale = r.int(3) === 0;
    const value = stale ? `"${900 + r.int(99)}"` : r.pick(BAD_IF_MATCH);
    const [method, body] = r.pick([
      ['PATCH', { description: 'if-match' }],
      ['PUT', { url: 'http://127.0.0.1:9/x', events: ['message.delivered'] }],
      ['DELETE', undefined],
    ] as const);
    return {
      label: `${method} If-Match ${value}`,
      method,
      path: `/v1/webhooks/${w.webhookId}`,
      headers: { 'if-match': value },
      body,
      expect: stale
        ? { status: 412, code: 'version_mismatch', names: 'If-Match' }
        : { status: 400, code: 'invalid_if_match', names: 'If-Match' },
    };
  },
  function badCredentials(r, w) {
    const auth = r.pick<RestCase['auth']>([
      'none',
      { bearer: '' },
      { bearer: r.text(40) },
      { bearer: `hp_${r.text(40)}` },
      { bearer: 'x'.repeat(5_000) },
    ]);
    const admin = r.int(3) === 0;
    return {
      label: `${admin ? 'operator' : 'customer'} route with a bad credential`,
      method: admin ? 'POST' : r.pick(['GET', 'DELETE']),
      path: admin ? '/v1/organizations' : `/v1/webhooks/${w.webhookId}`,
      auth,
      body: admin ? { name: 'Intruder' } : undefined,
      expect: { status: 401, code: 'unauthorized', names: admin ? 'operator token' : 'API key' },
    };
  },
  function customerKeyOnOperatorRoute(r, w) {
    return {
      label: 'operator route with an API key',
      method: 'POST',
      path: r.pick(['/v1/organizations', `/v1/organizations/${w.organizationId}/api-keys`]),
      body: { name: 'Mine now' },
      expect: { status: 401, code: 'unauthorized', names: 'operator token' },
    };
  },
  function unstorableText(r, w) {
    const text = r.pick(UNSTORABLE);
    const [method, path, body, field, auth] = r.pick<
      [string, string, Record<string, unknown>, string, RestCase['auth']]
    >([
      ['POST', '/v1/webhooks', { ...webhookBody(r), description: text }, 'description', 'key'],
      ['PATCH', `/v1/webhooks/${w.webhookId}`, { description: `x${text}` }, 'description', 'key'],
      ['POST', '/v1/webhooks', { ...webhookBody(r), events: [text] }, 'events', 'key'],
      [
        'POST',
        '/v1/webhooks',
        { ...webhookBody(r), secret: `${'s'.repeat(20)}${text}` },
        'secret',
        'key',
      ],
      ['POST', `/v1/webhooks/${w.webhookId}/test`, { type: text }, 'type', 'key'],
      ['POST', '/v1/organizations', { name: `Org ${text}` }, 'name', 'admin'],
      ['PATCH', `/v1/organizations/${w.organizationId}`, { name: text }, 'name', 'admin'],
    ]);
    return {
      label: `${method} ${field} with ${JSON.stringify(text)}`,
      method,
      path,
      auth,
      body,
      expect: invalid([field, 'NUL characters or unpaired UTF-16 surrogates']),
    };
  },
  function injection(r, _w) {
    const attack = r.pick([
      "'; DROP TABLE subscriptions;--",
      '" OR ""="',
      '{"$gt": ""}',
      '../../../../etc/passwd',
      '<img src=x onerror=alert(1)>',
      '${7*7}',
      '\r\nX-Injected: 1',
      '\u202e\u0000',
      '😀'.repeat(300),
    ]);
    const [body, field] = r.pick<[Record<string, unknown>, string]>([
      [{ ...webhookBody(r), events: [attack] }, 'events'],
      [{ ...webhookBody(r), scope: { domains: [attack] } }, 'scope'],
      [{ ...webhookBody(r), scope: { mailboxes: [attack] } }, 'scope'],
      [{ ...webhookBody(r), headers: { 'X-Attack': `v${attack}\n` } }, 'headers'],
      [{ ...webhookBody(r), headers: { [`X-${attack}`]: 'v' } }, 'headers'],
      [{ ...webhookBody(r), format: attack }, 'format'],
      [{ ...webhookBody(r), url: attack }, 'url'],
    ]);
    return {
      label: `${field} = ${JSON.stringify(attack).slice(0, 30)}`,
      method: 'POST',
      path: '/v1/webhooks',
      body,
      expect: invalid(field),
    };
  },
  function badUrl(r, w) {
    const [url, names] = r.pick(BAD_URLS);
    const method = r.pick(['POST', 'PATCH', 'PUT']);
    return {
      label: `${method} url ${url.slice(0, 40)}`,
      method,
      path: method === 'POST' ? '/v1/webhooks' : `/v1/webhooks/${w.webhookId}`,
      body: method === 'PATCH' ? { url } : { ...webhookBody(r), url },
      expect: invalid(['url', names]),
    };
  },
  function badEventTypes(r, w) {
    const events = r.pick(BAD_EVENTS);
    const method = r.pick(['POST', 'PATCH']);
    return {
      label: `${method} events ${JSON.stringify(events).slice(0, 40)}`,
      method,
      path: method === 'POST' ? '/v1/webhooks' : `/v1/webhooks/${w.webhookId}`,
      body: method === 'POST' ? { ...webhookBody(r), events } : { events },
      expect: invalid('events'),
    };
  },
  function badTestEvent(r, w) {
    const [body, field] = r.pick<[Record<string, unknown>, string]>([
      [{ type: 'message.nope' }, 'type'],
      [{ type: r.text(8) }, 'type'],
      [{ type: 5 }, 'type'],
      [{ type: 't'.repeat(101) }, 'type'],
      [{ type: ['message.delivered'] }, 'type'],
    ]);
    return {
      label: `test ${JSON.stringify(body).slice(0, 40)}`,
      method: 'POST',
      path: `/v1/webhooks/${w.webhookId}/test`,
      body,
      expect: invalid(field),
    };
  },
  function badReplay(r, w) {
    const now = Date.now();
    const [body, field] = r.pick<[Record<string, unknown>, string]>([
      [{ since: 'yesterday' }, 'since'],
      [{ since: 5 }, 'since'],
      [{ since: '2026-13-01T00:00:00Z' }, 'since'],
      [{ since: '2026-02-30T00:00:00Z' }, 'since'],
      [{ since: '2026-01-01' }, 'since'],
      [
        { since: new Date(now).toISOString(), until: new Date(now - 60_000).toISOString() },
        'until',
      ],
      [{ since: new Date(now).toISOString(), until: 'later' }, 'until'],
      // No until: the window ends now, so a since after it is refused.
      [{ since: new Date(now + 3_600_000).toISOString() }, 'since'],
    ]);
    return {
      label: `replay ${JSON.stringify(body).slice(0, 50)}`,
      method: 'POST',
      path: `/v1/webhooks/${w.webhookId}/replay`,
      body,
      expect: invalid(field),
    };
  },
  function badRotation(r, w) {
    const secret = r.pick<unknown>([
      'short',
      5,
      '',
      's'.repeat(201),
      ['x'.repeat(20)],
      ...BAD_WHSEC,
    ]);
    return {
      label: `rotate with secret ${JSON.stringify(secret).slice(0, 30)}`,
      method: 'POST',
      path: `/v1/webhooks/${w.webhookId}/rotate-secret`,
      body: { secret },
      expect: invalid('secret'),
    };
  },
  function badOperatorBodies(r, w) {
    const [method, path, body, field] = r.pick<[string, string, Record<string, unknown>, string]>([
      ['POST', '/v1/organizations', {}, 'name'],
      ['POST', '/v1/organizations', { name: '' }, 'name'],
      ['POST', '/v1/organizations', { name: '   ' }, 'name'],
      ['POST', '/v1/organizations', { name: 5 }, 'name'],
      ['POST', '/v1/organizations', { name: 'n'.repeat(201) }, 'name'],
      ['POST', '/v1/organizations', { name: 'Org', domains: ['not a domain'] }, 'domains'],
      ['POST', '/v1/organizations', { name: 'Org', domains: 'x.example' }, 'domains'],
      ['PATCH', `/v1/organizations/${w.organizationId}`, { domains: [5] }, 'domains'],
      ['PATCH', `/v1/organizations/${w.organizationId}`, { name: null }, 'name'],
      [
        'POST',
        `/v1/organizations/${w.organizationId}/api-keys`,
        { scope: { domains: ['x'] } },
        'scope',
      ],
      [
        'POST',
        `/v1/organizations/${w.organizationId}/api-keys`,
        { scope: { mailboxes: ['nope'] } },
        'scope',
      ],
      ['POST', `/v1/organizations/${w.organizationId}/api-keys`, { scope: 'all' }, 'scope'],
      ['POST', `/v1/organizations/${w.organizationId}/api-keys`, { name: '' }, 'name'],
      [
        'POST',
        `/v1/organizations/${w.organizationId}/api-keys`,
        { expires_at: '2020-01-01T00:00:00Z' },
        'expires_at',
      ],
      [
        'POST',
        `/v1/organizations/${w.organizationId}/api-keys`,
        { expires_at: 'tomorrow' },
        'expires_at',
      ],
      [
        'POST',
        `/v1/organizations/${w.organizationId}/api-keys`,
        { expires_at: '2999-01-01T00:00:00Z' },
        'expires_at',
      ],
      ['POST', `/v1/organizations/${w.organizationId}/api-keys`, { name: 5 }, 'name'],
      ['POST', `/v1/organizations/${w.organizationId}/api-keys`, { name: 'k'.repeat(201) }, 'name'],
    ]);
    return {
      label: `operator ${method} ${field}`,
      method,
      path,
      auth: 'admin',
      body,
      expect: invalid(field),
    };
  },
  function unknownRoutes(r, w) {
    const [method, path] = r.pick([
      ['GET', '/v1/nope'],
      ['GET', '/v2/webhooks'],
      ['DELETE', '/v1/webhooks'],
      ['PATCH', '/v1/event-types'],
      ['POST', `/v1/webhooks/${w.webhookId}/explode`],
      ['GET', `/v1/webhooks/${w.webhookId}/deliveries`],
      ['PUT', '/v1/organizations'],
    ] as const);
    return {
      label: `${method} ${path}`,
      method,
      path,
      expect: { status: 404, code: 'not_found', names: 'no such route' },
    };
  },
];

/** Requests that must succeed, mixed in among the bad ones. */
const VALID_REST: Array<(r: Random, w: World) => RestCase> = [
  (_r, w) => ({
    label: 'get the webhook',
    method: 'GET',
    path: `/v1/webhooks/${w.webhookId}`,
    expect: { ok: 200 },
  }),
  (r) => ({
    label: 'list',
    method: 'GET',
    path: `/v1/webhooks?limit=${1 + r.int(100)}`,
    expect: { ok: 200 },
  }),
  // A new webhook each time: concurrent changes to one would race (409, by design).
  (r) => ({
    label: 'create a webhook',
    method: 'POST',
    path: '/v1/webhooks',
    body: { ...webhookBody(r), description: `still fine ${r.text(8)}` },
    expect: { ok: 201 },
  }),
  (_r, w) => ({
    label: 'delivery log',
    method: 'GET',
    path: `/v1/webhooks/${w.webhookId}/logs?limit=5`,
    expect: { ok: 200 },
  }),
  () => ({ label: 'event types', method: 'GET', path: '/v1/event-types', expect: { ok: 200 } }),
];

const BAD_IDS = [
  '',
  'nope',
  'wh_123',
  `wh_${'Z'.repeat(26)}`,
  "' OR 1=1--",
  '\u0000',
  'a'.repeat(3_000),
];

/** Each generator makes one bad (or valid) gRPC call. */
const GRPC_GENERATORS: Array<(r: Random, w: World) => GrpcCase> = [
  function createWithBadFields(r) {
    const [field, value] = r.pick<[string, unknown]>([
      ['url', r.pick(BAD_URLS)[0]],
      ['events', r.pick([['message.nope'], [''], ['*.*'], ['bogus', 'message.delivered']])],
      ['format', r.pick(['xml', 'STANDARD', ' '])],
      ['rate_limit', r.pick([-1, 10_001, 2_147_483_647])],
      ['secret', r.pick(['short', '', 's'.repeat(201), ...BAD_WHSEC])],
      ['headers', r.pick([{ 'webhook-id': 'x' }, { Host: 'evil.example' }, { 'X-A': 'a\r\nb' }])],
      ['description', r.pick(['d'.repeat(501), 'a\u0000b'])],
      ['scope', { domains: [r.pick(['not a domain', '<x>', "'--"])], mailboxes: [] }],
    ]);
    return {
      label: `CreateWebhook ${field} ${JSON.stringify(value).slice(0, 30)}`,
      method: 'CreateWebhook',
      request: {
        url: 'http://127.0.0.1:9/grpc-bad',
        events: ['message.delivered'],
        [field]: value,
      },
      expect: { code: grpc.status.INVALID_ARGUMENT, names: field },
    };
  },
  function badIds(r, _w) {
    const id = r.pick(BAD_IDS);
    const [method, extra] = r.pick<[string, Record<string, unknown>]>([
      ['GetWebhook', {}],
      ['UpdateWebhook', { description: 'x' }],
      ['DeleteWebhook', {}],
      ['PauseWebhook', {}],
      ['ResumeWebhook', {}],
      ['RotateSecret', {}],
      ['SendTestEvent', {}],
      ['ListDeliveryAttempts', {}],
      ['Replay', { since: '2026-01-01T00:00:00Z' }],
      ['RetryDelivery', { delivery_id: `del_${r.text(26, CROCKFORD)}` }],
    ]);
    return {
      label: `${method} id ${JSON.stringify(id.slice(0, 20))}`,
      method,
      request: { id, ...extra },
      // No id at all is a bad request naming the field; one of no webhook, not found.
      expect:
        id === ''
          ? { code: grpc.status.INVALID_ARGUMENT, names: 'id is required' }
          : { code: grpc.status.NOT_FOUND, names: 'webhook not found' },
    };
  },
  function badArguments(r, w) {
    const [method, request, code, names] = r.pick<
      [string, Record<string, unknown>, grpc.status, string]
    >([
      [
        'ListWebhooks',
        { limit: r.pick([101, -1, 1_000_000]) },
        grpc.status.INVALID_ARGUMENT,
        'limit',
      ],
      [
        'ListWebhooks',
        { cursor: r.pick(['x', 'wh_bad', "' OR 1=1--"]) },
        grpc.status.INVALID_ARGUMENT,
        'cursor',
      ],
      [
        'ListWebhooks',
        { status: [r.pick(['exploded', 'ACTIVE', "' OR 1=1--", ''])] },
        grpc.status.INVALID_ARGUMENT,
        'status',
      ],
      [
        'ListDeliveryAttempts',
        { id: w.webhookId, limit: 500 },
        grpc.status.INVALID_ARGUMENT,
        'limit',
      ],
      [
        'ListDeliveryAttempts',
        { id: w.webhookId, cursor: 'x' },
        grpc.status.INVALID_ARGUMENT,
        'cursor',
      ],
      ['UpdateWebhook', { id: w.webhookId, format: 'xml' }, grpc.status.INVALID_ARGUMENT, 'format'],
      [
        'UpdateWebhook',
        { id: w.webhookId, url: r.pick(BAD_URLS)[0] },
        grpc.status.INVALID_ARGUMENT,
        'url',
      ],
      [
        'UpdateWebhook',
        { id: w.webhookId, events: [], set_events: true },
        grpc.status.INVALID_ARGUMENT,
        'events',
      ],
      [
        'UpdateWebhook',
        { id: w.webhookId, description: 'x', expected_version: 900 + r.int(99) },
        grpc.status.FAILED_PRECONDITION,
        'If-Match',
      ],
      [
        'DeleteWebhook',
        { id: w.webhookId, expected_version: 900 + r.int(99) },
        grpc.status.FAILED_PRECONDITION,
        'If-Match',
      ],
      [
        'RotateSecret',
        { id: w.webhookId, secret: 'short' },
        grpc.status.INVALID_ARGUMENT,
        'secret',
      ],
      [
        'SendTestEvent',
        { id: w.webhookId, type: r.pick(['nope', 'message.', '\u0000']) },
        grpc.status.INVALID_ARGUMENT,
        'type',
      ],
      [
        'Replay',
        { id: w.webhookId, since: r.pick(['yesterday', '', '2026-13-01T00:00:00Z']) },
        grpc.status.INVALID_ARGUMENT,
        'since',
      ],
      [
        'Replay',
        { id: w.webhookId, since: '2026-06-01T00:00:00Z', until: '2026-05-01T00:00:00Z' },
        grpc.status.INVALID_ARGUMENT,
        'until',
      ],
      [
        'RetryDelivery',
        { id: w.webhookId, delivery_id: r.pick(['nope', `del_${r.text(9)}`]) },
        grpc.status.NOT_FOUND,
        'delivery not found',
      ],
      [
        'RetryDelivery',
        { id: w.webhookId, delivery_id: '' },
        grpc.status.INVALID_ARGUMENT,
        'delivery_id is required',
      ],
      [
        'ListEventTypes',
        { cursor: r.pick(['message.nope', 'x']) },
        grpc.status.INVALID_ARGUMENT,
        'cursor',
      ],
      [
        'ListMessageEvents',
        { message_id: r.pick(['\u0000', 'm'.repeat(999)]) },
        grpc.status.NOT_FOUND,
        'message not found',
      ],
      [
        'ListMessageEvents',
        { message_id: '' },
        grpc.status.INVALID_ARGUMENT,
        'message_id is required',
      ],
      [
        'DeleteMessageEvents',
        { message_id: r.pick(['\u0000', 'm'.repeat(999), `<none-${r.text(5)}@x.example>`]) },
        grpc.status.NOT_FOUND,
        'message not found',
      ],
      [
        'DeleteMessageEvents',
        { message_id: '' },
        grpc.status.INVALID_ARGUMENT,
        'message_id is required',
      ],
      [
        'ListMessageEvents',
        { message_id: 'm', cursor: r.pick(['abc', '-1', '9999999999999999999']) },
        grpc.status.INVALID_ARGUMENT,
        'cursor',
      ],
    ]);
    return {
      label: `${method} ${JSON.stringify(request).slice(0, 50)}`,
      method,
      request,
      expect: { code, names },
    };
  },
  function badCredentials(r) {
    const key = r.pick(['none', 'wrong'] as const);
    return {
      label: `ListWebhooks with ${key} key`,
      method: r.pick(['ListWebhooks', 'GetWebhook', 'CreateWebhook']),
      request: {},
      key,
      expect: { code: grpc.status.UNAUTHENTICATED, names: 'API key' },
    };
  },
  function undecodable(r) {
    const method = r.pick([
      'CreateWebhook',
      'GetWebhook',
      'ListWebhooks',
      'UpdateWebhook',
      'Replay',
    ]);
    // Field 15 is in no request message, so every decoder has to skip it, and cannot.
    const bytes = r.pick([
      // Wire type 7, which does not exist.
      Buffer.from([0x7f, 0x01]),
      // Wire type 6, nor does this one.
      Buffer.from([0x7e]),
      // 16 bytes long, with 2 of them.
      Buffer.from([0x7a, 0x10, 0x61, 0x62]),
      // A varint that never ends.
      Buffer.from([0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ]);
    return {
      label: `${method} with undecodable bytes ${bytes.toString('hex')}`,
      method,
      bytes,
      expect: { code: grpc.status.INVALID_ARGUMENT, names: 'not a valid' },
    };
  },
];

const VALID_GRPC: Array<(r: Random, w: World) => GrpcCase> = [
  (_r, w) => ({
    label: 'GetWebhook',
    method: 'GetWebhook',
    request: { id: w.webhookId },
    expect: { ok: true },
  }),
  (r) => ({
    label: 'ListWebhooks',
    method: 'ListWebhooks',
    request: { limit: 1 + r.int(100) },
    expect: { ok: true },
  }),
];

/** `count` cases from the generators, about one in ten valid, reproducible from the seed. */
function generate<T>(
  random: Random,
  world: World,
  count: number,
  bad: Array<(r: Random, w: World) => T>,
  valid: Array<(r: Random, w: World) => T>,
): T[] {
  return Array.from({ length: count }, () =>
    random.int(10) === 0 ? random.pick(valid)(random, world) : random.pick(bad)(random, world),
  );
}

/** Runs `work` over `items`, `width` at a time, in order of completion. */
async function inParallel<T>(
  items: T[],
  width: number,
  work: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

describe('bad requests', () => {
  let pipeline: Pipeline;
  let apiKey: string;
  let client: WebhooksGrpc;
  const world: World = { webhookId: '', organizationId: '' };
  /** Each service's process id at the start: a restart would change it. */
  const started = new Map<string, number | undefined>();

  beforeAll(async () => {
    pipeline = await startPipeline();
    ({ apiKey, organizationId: world.organizationId } = await tenant(pipeline, 'Bad Requests Co'));
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://127.0.0.1:9/bad-requests',
      events: ['message.delivered'],
    });
    expect(created.status).toBe(201);
    world.webhookId = created.json.id as string;
    client = new WebhooksGrpc(pipeline.grpcAddress);
    for (const service of await serviceHealth(pipeline)) started.set(service.name, service.pid);
  });

  afterAll(async () => {
    client?.close();
    await pipeline?.stop();
  });

  async function send(c: RestCase) {
    const auth = c.auth ?? 'key';
    const token =
      auth === 'key'
        ? apiKey
        : auth === 'admin'
          ? pipeline.adminToken
          : auth === 'none'
            ? undefined
            : auth.bearer;
    const json = c.raw === undefined && c.body !== undefined;
    const response = await fetch(`${pipeline.apiUrl}${c.path}`, {
      method: c.method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(json ? { 'content-type': 'application/json' } : {}),
        ...c.headers,
      },
      body: json ? JSON.stringify(c.body) : c.raw,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }

  /** What is wrong with an error body, if anything. */
  function judgeError(expected: Expected, status: number, body: unknown): string | undefined {
    if (status !== expected.status) return `status ${status}, expected ${expected.status}`;
    const error = (body as { error?: Record<string, unknown> })?.error;
    const shape =
      error &&
      typeof error.code === 'string' &&
      typeof error.message === 'string' &&
      Array.isArray(error.details) &&
      Object.keys(body as object).length === 1 &&
      Object.keys(error).length === 3;
    if (!shape) return 'not the error shape {"error": {code, message, details}}';
    if (error.code !== expected.code)
      return `code ${String(error.code)}, expected ${expected.code}`;
    const said = JSON.stringify(error);
    const unnamed = [expected.names]
      .flat()
      .filter((name) =>
        typeof name === 'string'
          ? !said.includes(JSON.stringify(name).slice(1, -1))
          : !name.test(said),
      );
    if (unnamed.length > 0) return `does not name ${unnamed.map(String).join(', ')}`;
    return undefined;
  }

  it(`answers ${REST_CASES} generated REST requests (seed ${SEED}) as the contract says`, async () => {
    const cases = generate(seeded(SEED), world, REST_CASES, REST_GENERATORS, VALID_REST);
    const failures: string[] = [];
    let valid = 0;
    await inParallel(cases, IN_FLIGHT, async (c, i) => {
      const where = `#${i} ${c.label} (${c.method} ${c.path.slice(0, 80)})`;
      try {
        const { status, body } = await send(c);
        if ('ok' in c.expect) {
          valid++;
          if (status !== c.expect.ok)
            failures.push(`${where}: ${status} ${JSON.stringify(body).slice(0, 200)}`);
          return;
        }
        const wrong = judgeError(c.expect, status, body);
        if (wrong) failures.push(`${where}: ${wrong}: ${JSON.stringify(body).slice(0, 300)}`);
      } catch (error) {
        failures.push(`${where}: ${(error as Error).name} ${(error as Error).message}`);
      }
    });
    expect(failures.slice(0, 30), `${failures.length} of ${cases.length} wrong`).toEqual([]);
    expect(valid).toBeGreaterThan(REST_CASES / 20);
  });

  it(`answers ${GRPC_CASES} generated gRPC calls (seed ${SEED}) with the mapped status`, async () => {
    const cases = generate(seeded(SEED + 1), world, GRPC_CASES, GRPC_GENERATORS, VALID_GRPC);
    const failures: string[] = [];
    await inParallel(cases, IN_FLIGHT, async (c, i) => {
      const key = c.key === 'none' ? '' : c.key === 'wrong' ? 'hp_not_a_key' : apiKey;
      const result = c.bytes
        ? await client.callRaw(c.method, c.bytes, key, TIMEOUT_MS)
        : await client.call(c.method, c.request ?? {}, key, { timeoutMs: TIMEOUT_MS });
      const where = `#${i} ${c.label}`;
      if ('ok' in c.expect) {
        if (result.code !== grpc.status.OK)
          failures.push(`${where}: ${result.code} ${result.details}`);
        return;
      }
      const named =
        typeof c.expect.names === 'string'
          ? result.details.includes(c.expect.names)
          : c.expect.names.test(result.details);
      if (result.code !== c.expect.code || !named)
        failures.push(
          `${where}: ${grpc.status[result.code]} ${result.details.slice(0, 200)}, expected ${grpc.status[c.expect.code]} naming ${String(c.expect.names)}`,
        );
    });
    expect(failures.slice(0, 30), `${failures.length} of ${cases.length} wrong`).toEqual([]);
  });

  it('refuses a gRPC message over the size limit', async () => {
    const result = await client.call(
      'CreateWebhook',
      {
        url: 'http://127.0.0.1:9/huge',
        events: ['message.delivered'],
        description: 'x'.repeat(5 * 1024 * 1024),
      },
      apiKey,
    );
    expect(result.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('leaves every service running, healthy and without an unhandled error', async () => {
    for (const service of await serviceHealth(pipeline)) {
      expect(service, service.name).toMatchObject({
        pid: started.get(service.name),
        running: true,
        live: 200,
        ready: 200,
      });
      const failures = readFileSync(pipeline.services[service.name].logFile, 'utf8')
        .split('\n')
        .filter((line) => /"level":"fatal"|uncaught exception|unhandled/i.test(line));
      expect(
        failures.map((line) => line.slice(0, 300)),
        service.name,
      ).toEqual([]);
    }
    // Still serving: the webhook everything was aimed at is intact.
    const after = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${world.webhookId}`, apiKey);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ url: 'http://127.0.0.1:9/bad-requests', version: 1 });
  });
});
