/**
 * Custom headers a subscription adds to every delivery (seed 004's rules): at most 10;
 * names are HTTP tokens of at most 256 characters; values at most 1024 characters with
 * no control characters (no CR/LF header injection; horizontal tab is refused too, it
 * serves no legitimate purpose here) and none beyond Latin-1; `webhook-*` and `x-webhook-*` are ours; headers
 * that steer the HTTP exchange itself are refused, and so is `User-Agent`, which we set.
 */
export interface HeaderError {
  code:
    | 'invalid_headers'
    | 'too_many_headers'
    | 'invalid_header_name'
    | 'invalid_header_value'
    | 'reserved_header'
    | 'duplicate_header';
  message: string;
}

export type ValidatedHeaders =
  { ok: true; headers: Record<string, string> } | { ok: false; errors: HeaderError[] };

const MAX_HEADERS = 10;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;
// Control characters, and what is beyond Latin-1: an HTTP field value is bytes, and the
// HTTP client refuses to send characters it cannot write as one byte each.
// eslint-disable-next-line no-control-regex
const UNSENDABLE = /[\u0000-\u001f\u007f]|[^\u0000-\u00ff]/;
const FORBIDDEN = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'user-agent',
  // Asks the server to answer 100 Continue before the body, which the HTTP client cannot do.
  'expect',
]);

/** `null` clears the headers (PATCH); the result is then `{}`. */
export function validateCustomHeaders(input: unknown): ValidatedHeaders {
  if (input === null || input === undefined) return { ok: true, headers: {} };
  if (typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      errors: [
        { code: 'invalid_headers', message: 'headers must be an object of name to value, or null' },
      ],
    };
  }
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) {
    return {
      ok: false,
      errors: [{ code: 'too_many_headers', message: `at most ${MAX_HEADERS} custom headers` }],
    };
  }
  const errors: HeaderError[] = [];
  const seen = new Set<string>();
  const headers: Array<[string, string]> = [];
  for (const [name, value] of entries) {
    const shown = JSON.stringify(name.slice(0, 64));
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) {
      errors.push({
        code: 'invalid_header_name',
        message: `header name ${shown} must be an HTTP token of 1 to 256 characters`,
      });
      continue;
    }
    if (lower.startsWith('webhook-') || lower.startsWith('x-webhook-')) {
      errors.push({
        code: 'reserved_header',
        message: `header ${shown} is reserved for Hookpost's signatures`,
      });
      continue;
    }
    if (FORBIDDEN.has(lower)) {
      errors.push({ code: 'reserved_header', message: `header ${shown} cannot be set` });
      continue;
    }
    if (seen.has(lower)) {
      errors.push({ code: 'duplicate_header', message: `header ${shown} is given twice` });
      continue;
    }
    seen.add(lower);
    if (typeof value !== 'string' || value.length > 1024 || UNSENDABLE.test(value)) {
      errors.push({
        code: 'invalid_header_value',
        message: `header ${shown} must have a string value of at most 1024 characters, without control characters or characters beyond Latin-1 (percent-encode them)`,
      });
      continue;
    }
    headers.push([name, value]);
  }
  // Built as own properties, so that even a header named `__proto__` is kept as given.
  return errors.length > 0
    ? { ok: false, errors }
    : { ok: true, headers: Object.fromEntries(headers) };
}
