import { z } from 'zod';
import { describeIssues } from '@hookpost/contracts';
import { isObject, type Json, type Mapped } from './source-event.js';

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
  return {
    ok: true,
    event: {
      format: 'canonical',
      typeName: type,
      sourceId: id,
      occurredAt: new Date(occurred_at).toISOString(),
      organizationId: organization_id,
      data,
    },
  };
}
