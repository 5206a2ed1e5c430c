import {
  EVENT_DESCRIPTIONS,
  EVENT_TYPE_ALIASES,
  EVENT_TYPES,
  payloadJsonSchema,
  type EventType,
} from '@hookpost/contracts';
import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ApiKeyGuard } from '../auth/guards.js';
import { NOT_A_CURSOR, pageLimit } from '../http/paging.js';
import { ZodPipe } from '../http/zod.pipe.js';

export const eventTypesQuery = z.strictObject({
  limit: pageLimit(50),
  cursor: z.enum(EVENT_TYPES, { message: NOT_A_CURSOR }).optional(),
});

/** The names each canonical type is also known by in the source formats (seeds). */
const aliasesOf = new Map<EventType, string[]>();
for (const [alias, type] of Object.entries(EVENT_TYPE_ALIASES)) {
  aliasesOf.set(type, [...(aliasesOf.get(type) ?? []), alias]);
}

/** A page of the catalogue (REST and gRPC). */
export function listEventTypes(query: z.infer<typeof eventTypesQuery>) {
  const start = query.cursor ? EVENT_TYPES.indexOf(query.cursor) + 1 : 0;
  const page = EVENT_TYPES.slice(start, start + query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((name) => ({
      name,
      description: EVENT_DESCRIPTIONS[name],
      aliases: aliasesOf.get(name) ?? [],
      schema: payloadJsonSchema(name),
    })),
    next_cursor: last && start + page.length < EVENT_TYPES.length ? last : null,
  };
}

/** The event catalogue: every type a subscription can ask for, with its payload's JSON Schema. */
@Controller('v1/event-types')
@UseGuards(ApiKeyGuard)
export class EventTypesController {
  @Get()
  list(@Query(new ZodPipe(eventTypesQuery)) query: z.infer<typeof eventTypesQuery>) {
    return listEventTypes(query);
  }
}
