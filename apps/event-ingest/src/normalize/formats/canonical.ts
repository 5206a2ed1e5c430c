import { z } from 'zod';
import { describeIssues } from '@hookpost/contracts';
import { isObject, toIso, type Json, type Mapped } from './source-event.js';

/** Shape 1: `{id, type, organization_id, occurred_at, data}`. */
const schema = z.object({
  id: z.string().min(1).max(200),
  type: z.string().max(200),
  organization_id: z.string().min(1).max(64).optional(),
  occurred_at: z.iso.datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
});

export function isCanonical(json: Json): boolean {
  return 'type' in json && 'occurred_at' in json && isObject(json.data);
}

export function mapCanonical(json: Json): Mapped {
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, detail: describeIssues(parsed.error.issues) };
  const { id, type, organization_id, occurred_at, data } = parsed.data;
  const occurredAt = toIso(occurred_at);
  if (!occurredAt)
    return {
      ok: false,
      detail: 'occurred_at: not a time that exists, in the years 0001 to 9999 UTC',
    };
  return {
    ok: true,
    event: {
      format: 'canonical',
      typeName: type,
      sourceId: id,
      occurredAt,
      organizationId: organization_id,
      data,
    },
  };
}
