import { ingestedEventSchema } from '@hookpost/contracts';
import { keyCoversEvent } from '@hookpost/domain';
import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
import { ZodPipe } from '../http/zod.pipe.js';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, 'must be a next_cursor from a previous page')
    .optional(),
});

/**
 * Every event of one email, oldest first, for users who poll instead of (or besides)
 * receiving webhooks. Only the caller's organisation, and with a scoped key only the
 * events of its senders (or, inbound, its recipients).
 */
@Controller('v1/messages')
@UseGuards(ApiKeyGuard)
export class MessagesController {
  constructor(private readonly dataSource: DataSource) {}

  @Get(':messageId/events')
  async events(
    @CurrentPrincipal() principal: Principal,
    @Param('messageId') messageId: string,
    @Query(new ZodPipe(listQuery)) query: z.infer<typeof listQuery>,
  ) {
    if (messageId.length === 0 || messageId.length > 998) throw ApiError.notFound('message');
    const data: unknown[] = [];
    let after = query.cursor ?? '0';
    let more = true;
    // A scoped key may not see every row: read on until the page is full.
    while (data.length <= query.limit && more) {
      const rows = (await this.dataSource.query(
        `SELECT seq, event FROM mail_events
         WHERE organization_id = $1 AND message_id = $2 AND seq > $3
           AND NOT (event ? 'target_subscription_id')
         ORDER BY seq LIMIT $4`,
        [principal.organizationId, messageId, after, query.limit + 1],
      )) as Array<{ seq: string; event: unknown }>;
      more = rows.length === query.limit + 1;
      for (const row of rows) {
        const event = ingestedEventSchema.parse(row.event);
        if (keyCoversEvent(principal.scope, event)) {
          data.push({
            id: event.id,
            type: event.type,
            timestamp: event.occurred_at,
            data: event.data,
            cursor: row.seq,
          });
        }
      }
      after = rows[rows.length - 1]?.seq ?? after;
    }
    const page = data.slice(0, query.limit) as Array<{ cursor: string }>;
    const next = data.length > query.limit ? page[page.length - 1]!.cursor : null;
    return { data: page.map(({ cursor: _, ...event }) => event), next_cursor: next };
  }
}
