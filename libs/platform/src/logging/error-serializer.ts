/**
 * Text fields of an error worth a log line: Postgres's SQLSTATE and where it arose (not
 * `detail`, `where`, `hint` or `internalQuery`, which quote the values of rows and
 * statements), a failed system call, a Kafka broker or group. Any other text field may be
 * data: a TypeORM `QueryFailedError` carries its statement's parameters (whole
 * subscription states and mail events, with custom headers and email addresses) and the
 * driver's error, and redact paths cannot reach into a JSON string.
 */
const KEPT_TEXT = new Set([
  'code',
  'severity',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
  'syscall',
  'address',
  'hostname',
  'broker',
  'groupId',
  'topic',
]);

/** Quoted and dollar-quoted SQL literals, an unterminated one to the end of the text. */
const SQL_LITERAL = /'(?:[^']|'')*(?:'|$)|\$([A-Za-z_]\w*)?\$[\s\S]*?(?:\$\1\$|$)/g;

type ErrorLike = Error & Record<string, unknown>;

/** pino's own test for what it serializes as an error. */
function isErrorLike(value: unknown): value is ErrorLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

/**
 * An error as a log field: type, message, stack, the fields above, numbers and flags
 * (`errno`, `port`, `retriable`), the statement without its literals, and the same for
 * its `cause` and an AggregateError's `errors`. Anything else that is not an error is
 * left as it is, as pino's default serializer does.
 */
export function serializeError(value: unknown): unknown {
  return isErrorLike(value) ? serialize(value, new Set()) : value;
}

function serialize(error: ErrorLike, seen: Set<unknown>): Record<string, unknown> {
  seen.add(error);
  const out: Record<string, unknown> = {
    type: typeof error.constructor === 'function' ? error.constructor.name : error.name,
    message: error.message,
    stack: error.stack,
  };
  for (const [key, field] of Object.entries(error)) {
    if (Object.hasOwn(out, key)) continue;
    if (typeof field === 'number' || typeof field === 'boolean') out[key] = field;
    else if (typeof field === 'string' && KEPT_TEXT.has(key)) out[key] = field;
  }
  if (typeof error.query === 'string') out.query = error.query.replace(SQL_LITERAL, "'[redacted]'");
  const { cause, errors } = error;
  if (isErrorLike(cause) && !seen.has(cause)) out.cause = serialize(cause, seen);
  if (Array.isArray(errors))
    out.errors = errors
      .filter((each): each is ErrorLike => isErrorLike(each) && !seen.has(each))
      .map((each) => serialize(each, seen));
  return out;
}
