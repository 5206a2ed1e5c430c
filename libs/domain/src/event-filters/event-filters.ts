import { canonicalEventType, EVENT_TYPES, type EventType } from '@hookpost/contracts';

/**
 * A subscription's event filter: canonical names (`message.delivered`), the seeds'
 * aliases (`delivered`, `api_mail_log_opened`, `MessageSent`, `message.complaint`),
 * `*`, or a prefix wildcard (`message.*`). Stored normalised: aliases become canonical
 * names, anything a wildcard already covers is dropped, sorted, no repeats.
 */
export interface FilterError {
  code: 'invalid_event' | 'too_many_events' | 'no_events';
  message: string;
}

export type NormalizedFilters =
  { ok: true; filters: string[] } | { ok: false; errors: FilterError[] };

const MAX_FILTERS = 50;

function wildcardTypes(filter: string): EventType[] | undefined {
  if (filter === '*') return [...EVENT_TYPES];
  if (!filter.endsWith('.*')) return undefined;
  const prefix = filter.slice(0, -1);
  const types = EVENT_TYPES.filter((type) => type.startsWith(prefix));
  return types.length > 0 ? types : undefined;
}

export function normalizeEventFilters(input: unknown): NormalizedFilters {
  if (!Array.isArray(input) || input.length === 0) {
    return {
      ok: false,
      errors: [{ code: 'no_events', message: 'events must be a non-empty list of event types' }],
    };
  }
  if (input.length > MAX_FILTERS) {
    return {
      ok: false,
      errors: [{ code: 'too_many_events', message: `at most ${MAX_FILTERS} event filters` }],
    };
  }
  const errors: FilterError[] = [];
  const wildcards = new Set<string>();
  const types = new Set<EventType>();
  for (const entry of input) {
    if (typeof entry !== 'string') {
      errors.push({ code: 'invalid_event', message: 'each event filter must be a string' });
      continue;
    }
    const canonical = canonicalEventType(entry);
    if (canonical) types.add(canonical);
    else if (wildcardTypes(entry)) wildcards.add(entry);
    else
      errors.push({
        code: 'invalid_event',
        message: `unknown event type ${JSON.stringify(entry.slice(0, 100))}`,
      });
  }
  if (errors.length > 0) return { ok: false, errors };
  if (wildcards.has('*')) return { ok: true, filters: ['*'] };
  const covered = new Set([...wildcards].flatMap((w) => wildcardTypes(w) ?? []));
  const filters = [...wildcards, ...[...types].filter((type) => !covered.has(type))].sort();
  return { ok: true, filters };
}

/** Every concrete type a (normalised) filter list matches; used to index subscriptions by type. */
export function expandEventFilters(filters: readonly string[]): EventType[] {
  const out = new Set<EventType>();
  for (const filter of filters) {
    const canonical = canonicalEventType(filter);
    if (canonical) out.add(canonical);
    else for (const type of wildcardTypes(filter) ?? []) out.add(type);
  }
  return [...out];
}

export function compileEventFilter(filters: readonly string[]): (type: EventType) => boolean {
  const matched = new Set(expandEventFilters(filters));
  return (type) => matched.has(type);
}
