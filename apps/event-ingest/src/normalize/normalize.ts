import {
  canonicalEventType,
  deriveId,
  describeIssues,
  describeJsonError,
  EVENT_DATA_SCHEMAS,
  EVENT_ID_PATTERN,
  type EventType,
  type IngestedEvent,
  type RejectReason,
} from '@hookpost/contracts';
import { scopeParty } from '@hookpost/domain';
import { isCanonical, mapCanonical } from './formats/canonical.js';
import { isGeneric, mapGeneric } from './formats/generic.js';
import { isPaubox, mapPaubox } from './formats/paubox.js';
import { isPostal, mapPostal } from './formats/postal.js';
import { isObject, type Json, type Mapped, type SourceEvent } from './formats/source-event.js';

/**
 * Turns one raw `mail-events` message into a canonical event, or says why not
 * (REJECT_REASONS, in contracts). Plain functions, no Kafka: the consumer decodes, this
 * decides.
 */
export type NormalizeResult =
  { ok: true; event: IngestedEvent } | { ok: false; reason: RejectReason; detail: string };

export interface RawMailEvent {
  value: Buffer | null;
  /** The Kafka header `organization-id`, for shapes that carry no tenant. */
  organizationHeader?: string;
}

/** Which organisations exist, and which sending domain belongs to which. */
export interface OrganizationDirectory {
  has(organizationId: string): boolean;
  byDomain(domain: string): string | undefined;
}

export interface NormalizeOptions {
  maxBytes: number;
  now: () => Date;
  organizations: OrganizationDirectory;
}

/** Detected by shape, most specific first: their keys overlap. */
const FORMATS: Array<{ detect: (json: Json) => boolean; map: (json: Json) => Mapped }> = [
  { detect: isPaubox, map: mapPaubox },
  { detect: isPostal, map: mapPostal },
  { detect: isCanonical, map: mapCanonical },
  { detect: isGeneric, map: mapGeneric },
];

/** Deeper than any mail event needs; shallow enough for every recursive step after. */
export const MAX_NESTING = 32;

/**
 * How deep the arrays and objects of a JSON text nest, counted without parsing (outside
 * strings), stopping as soon as `limit` is passed.
 */
export function nestingDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (inString) {
      if (byte === 0x5c)
        i++; // backslash: skip the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return deepest;
}

const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f])/i;

/**
 * Where the JSON value holds text Postgres cannot store (`jsonb` refuses NUL and unpaired
 * UTF-16 surrogates), with what is wrong, or undefined. Accepted, such an event would
 * stop the event log's consumer, for every organisation, at its first insert.
 */
function unstorableText(value: unknown, path: string): string | undefined {
  const problem = (text: string) =>
    text.includes('\u0000')
      ? 'holds a NUL character (\\u0000)'
      : text.isWellFormed()
        ? undefined
        : 'holds an unpaired UTF-16 surrogate';
  if (typeof value === 'string') {
    const wrong = problem(value);
    return wrong && `${path || 'the event'} ${wrong}, which cannot be stored`;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
    const wrongKey = problem(key);
    if (wrongKey) return `a key in ${path || 'the event'} ${wrongKey}, which cannot be stored`;
    const found = unstorableText(inner, at);
    if (found) return found;
  }
  return undefined;
}

/**
 * Normalises a batch. A message refused for want of a tenant is judged again once the
 * directory has read on to now (`catchUp`): an organisation created, or a domain
 * registered, a moment ago may still be on its way to it.
 */
export async function normalizeBatch(
  raws: RawMailEvent[],
  options: NormalizeOptions,
  catchUp: () => Promise<void>,
): Promise<NormalizeResult[]> {
  const results = raws.map((raw) => normalize(raw, options));
  const tenantless = (r: NormalizeResult) =>
    !r.ok && (r.reason === 'unknown_organization' || r.reason === 'missing_organization');
  if (!results.some(tenantless)) return results;
  await catchUp();
  return results.map((r, i) => (tenantless(r) ? normalize(raws[i]!, options) : r));
}

/**
 * Normalises one raw message. Never throws: anything unexpected while handling one
 * message rejects that message (it goes to the dead-letter topic), never the batch.
 */
export function normalize(raw: RawMailEvent, options: NormalizeOptions): NormalizeResult {
  try {
    return normalizeUnsafe(raw, options);
  } catch (error) {
    return {
      ok: false,
      reason: 'schema_violation',
      detail: `could not be processed: ${String((error as Error).message).slice(0, 200)}`,
    };
  }
}

function normalizeUnsafe(raw: RawMailEvent, options: NormalizeOptions): NormalizeResult {
  const bytes = raw.value;
  if (bytes === null || bytes.length === 0)
    return { ok: false, reason: 'not_json', detail: 'empty message' };
  if (bytes.length > options.maxBytes) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `${bytes.length} bytes is over the limit of ${options.maxBytes}`,
    };
  }
  // Checked before parsing: every later step (validation, serialising) recurses, and a
  // message nested thousands deep would overflow the stack there.
  const depth = nestingDepth(bytes, MAX_NESTING);
  if (depth > MAX_NESTING) {
    return {
      ok: false,
      reason: 'schema_violation',
      detail: `nested deeper than ${MAX_NESTING} levels`,
    };
  }
  const text = bytes.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: 'not_json', detail: describeJsonError(error as Error) };
  }
  if (!isObject(json)) return { ok: false, reason: 'unknown_shape', detail: 'not a JSON object' };
  // Only a \u escape can put these in a parsed string: a raw NUL is not JSON, and invalid
  // UTF-8 decodes to U+FFFD. Most texts have neither, and skip the walk.
  const unstorable = SUSPECT_ESCAPE.test(text) ? unstorableText(json, '') : undefined;
  if (unstorable) return { ok: false, reason: 'schema_violation', detail: unstorable };
  const format = FORMATS.find((f) => f.detect(json));
  if (!format)
    return { ok: false, reason: 'unknown_shape', detail: 'not a recognised mail event shape' };
  const mapped = format.map(json);
  if (!mapped.ok) return { ok: false, reason: 'schema_violation', detail: mapped.detail };
  return toCanonical(mapped.event, raw, options);
}

function toCanonical(
  source: SourceEvent,
  raw: RawMailEvent,
  options: NormalizeOptions,
): NormalizeResult {
  const type = canonicalEventType(source.typeName);
  if (!type) {
    return {
      ok: false,
      reason: 'unknown_type',
      detail: `unknown event type ${JSON.stringify(source.typeName.slice(0, 100))}`,
    };
  }
  const data = EVENT_DATA_SCHEMAS[type].safeParse(source.data);
  if (!data.success)
    return { ok: false, reason: 'schema_violation', detail: describeIssues(data.error.issues) };

  // An empty header names no organisation: fall back to the sending domain.
  const header = raw.organizationHeader || undefined;
  // The canonical shape names its organisation itself. The others carry no tenant (SPEC
  // §2): the header names it, and a generic event's own `organization_id` counts only
  // without one; then the sending domain.
  const organizationId =
    (source.format === 'canonical'
      ? (source.organizationId ?? header)
      : (header ?? source.organizationId)) ??
    organizationByDomain(type, data.data, options.organizations);
  if (!organizationId) {
    return {
      ok: false,
      reason: 'missing_organization',
      detail: 'no organization_id, no organization-id header, and no registered sending domain',
    };
  }
  if (!options.organizations.has(organizationId)) {
    return {
      ok: false,
      reason: 'unknown_organization',
      detail: `no organisation ${JSON.stringify(organizationId.slice(0, 64))}`,
    };
  }
  // Stable: the same source event always gets the same id, which is what dedupe keys on.
  const id =
    source.format === 'canonical' && EVENT_ID_PATTERN.test(source.sourceId)
      ? source.sourceId
      : deriveId('event', source.format, source.sourceId);
  return {
    ok: true,
    event: {
      id,
      type,
      organization_id: organizationId,
      occurred_at: source.occurredAt,
      data: data.data,
      received_at: options.now().toISOString(),
      source: { format: source.format, id: source.sourceId.slice(0, 200) },
    },
  };
}

/**
 * The organisation that registered the sender's domain (the recipient's, for inbound
 * mail): the party the matcher scopes the event by, so the two never disagree.
 */
function organizationByDomain(
  type: EventType,
  data: Json,
  organizations: OrganizationDirectory,
): string | undefined {
  for (let domain of scopeParty({ type, data }).domains) {
    // mail.acme.example is acme.example's too.
    while (domain.includes('.')) {
      const found = organizations.byDomain(domain);
      if (found) return found;
      domain = domain.slice(domain.indexOf('.') + 1);
    }
  }
  return undefined;
}
