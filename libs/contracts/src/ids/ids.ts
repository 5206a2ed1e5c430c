import { hash, randomFillSync } from 'node:crypto';

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

const CROCKFORD = Buffer.from('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 'latin1');
const ULID_PATTERN = '[0-9A-HJKMNP-TV-Z]{26}';
const BODY_LENGTH = 26;

/**
 * Where an id's 26 characters are written before they become one string: ids are made
 * for every delivery attempt and job, and adding characters to a string one at a time
 * allocated a string per character.
 */
const body = Buffer.alloc(BODY_LENGTH);

/** The first 10 characters: the time, most significant first, so ids sort by it. */
function writeTime(ms: number): void {
  let rest = ms;
  for (let i = 9; i >= 0; i--) {
    body[i] = CROCKFORD[rest % 32]!;
    rest = Math.floor(rest / 32);
  }
}

/**
 * Random bytes drawn from the CSPRNG a few KiB at a time: a call per id costs more than
 * the rest of a delivery attempt's bookkeeping. Each byte is used once.
 */
const pool = Buffer.alloc(4_096);
let poolOffset = pool.length;

/**
 * `count` characters for `bytes` (from `from`) into the body at `at`. 256 is a multiple
 * of 32: every character is equally likely.
 */
function writeBytes(bytes: Uint8Array, from: number, at: number, count: number): void {
  for (let i = 0; i < count; i++) body[at + i] = CROCKFORD[bytes[from + i]! % 32]!;
}

export function newId(kind: IdKind, now: number = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  writeTime(now);
  writeBytes(pool, poolOffset, 10, 16);
  poolOffset += 16;
  return `${ID_PREFIXES[kind]}_${body.toString('latin1', 0, BODY_LENGTH)}`;
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
  writeBytes(hash('sha256', parts.join('\u0000'), 'buffer'), 0, 0, BODY_LENGTH);
  return `${ID_PREFIXES[kind]}_${body.toString('latin1', 0, BODY_LENGTH)}`;
}

/**
 * The lowest time-ordered id of a kind made at `ms` (its random part all zeros): ids made
 * from then on sort after it, so a time window becomes a range of ids, which an index on
 * them serves.
 */
export function firstIdAt(kind: IdKind, ms: number): string {
  writeTime(Math.max(0, Math.floor(ms)));
  body.fill(CROCKFORD[0]!, 10);
  return `${ID_PREFIXES[kind]}_${body.toString('latin1', 0, BODY_LENGTH)}`;
}
