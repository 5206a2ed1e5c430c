import type { z } from 'zod';

/**
 * Decoding of Kafka message values: bytes -> JSON -> schema. Every consumer decodes
 * before any handler sees a message, so handlers only ever get valid, typed values.
 */
export type Decoded<T> =
  { ok: true; value: T } | { ok: false; reason: DecodeFailure; detail: string };

export type DecodeFailure = 'empty' | 'not_json' | 'schema_violation';

export function decodeJson<T>(schema: z.ZodType<T>, bytes: Buffer | null): Decoded<T> {
  if (bytes === null || bytes.length === 0)
    return { ok: false, reason: 'empty', detail: 'empty message' };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'not_json', detail: describeJsonError(error as Error) };
  }
  return decodeValue(schema, json);
}

/**
 * What is wrong with a text that is not JSON, without V8's quote of it: some of its
 * messages quote the text's start, and that is mail data (an address, a subject) that log
 * lines and dead letters' headers must not carry.
 */
export function describeJsonError(error: Error): string {
  const what = error.message.split(/, "| in JSON/)[0]!.slice(0, 100);
  const position = /at position (\d+)/.exec(error.message)?.[1];
  return `not valid JSON: ${what}${position === undefined ? '' : ` at position ${position}`}`;
}

export function decodeValue<T>(schema: z.ZodType<T>, json: unknown): Decoded<T> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reason: 'schema_violation', detail: describeIssues(parsed.error.issues) };
}

/** `data.to: expected string, received number; type: invalid option` (bounded length). */
export function describeIssues(issues: ReadonlyArray<z.core.$ZodIssue>): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ')
    .slice(0, 500);
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * `fields` as a JSON object with one more field, `name`, whose value is `json`: JSON text
 * that came in a message and was checked by `decodeJson`, passed on as it came instead of
 * serialised again (the larger part of a message, where one event is carried on).
 */
export function jsonWithRawField(
  fields: Record<string, unknown>,
  name: string,
  json: string,
): string {
  const head = JSON.stringify(fields).slice(0, -1);
  return `${head}${head.length > 1 ? ',' : ''}${JSON.stringify(name)}:${json}}`;
}
