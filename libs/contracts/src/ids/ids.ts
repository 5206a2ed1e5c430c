import { createHash, randomFillSync } from 'node:crypto';

/**
 * Prefixed, time-ordered identifiers (`wh_01JD...`): the prefix says what an id
 * names, so a webhook id pasted where an organisation id belongs is refused on parse;
 * the time-ordered body (a ULID) gives stable cursor pagination.
 */
export const ID_PREFIXES = {
  organization: 'org',
  apiKey: 'key',
  webhook: 'wh',
  event: 'evt',
  delivery: 'del',
  attempt: 'att',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;
export type IdPrefix = (typeof ID_PREFIXES)[IdKind];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID_PATTERN = '[0-9A-HJKMNP-TV-Z]{26}';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/**
 * Random bytes drawn from the CSPRNG a few KiB at a time: a call per id costs more than
 * the rest of a delivery attempt's bookkeeping. Each byte is used once.
 */
const pool = Buffer.alloc(4_096);
let poolOffset = pool.length;

function encodeRandom(): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let out = '';
  // 256 is a multiple of 32: every character is equally likely.
  for (let i = 0; i < 16; i++) out += CROCKFORD[pool[poolOffset + i]! % 32];
  poolOffset += 16;
  return out;
}

export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${ID_PREFIXES[kind]}_${encodeTime(now)}${encodeRandom()}`;
}

const PATTERNS = Object.fromEntries(
  Object.entries(ID_PREFIXES).map(([kind, prefix]) => [
    kind,
    new RegExp(`^${prefix}_${ULID_PATTERN}$`),
  ]),
) as Record<IdKind, RegExp>;

export function isId(kind: IdKind, value: unknown): value is string {
  return typeof value === 'string' && PATTERNS[kind].test(value);
}

/**
 * An id derived from stable inputs instead of chance: the same inputs always give the
 * same id. Used where a repeat must be recognisable: an event seen twice from its
 * source, a delivery job produced twice for the same (event, subscription).
 */
export function deriveId(kind: IdKind, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  let out = '';
  for (let i = 0; i < 26; i++) out += CROCKFORD[digest[i]! % 32];
  return `${ID_PREFIXES[kind]}_${out}`;
}
