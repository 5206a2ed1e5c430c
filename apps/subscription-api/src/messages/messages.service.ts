import { ingestedEventSchema } from '@hookpost/contracts';
import { keyCoversEvent } from '@hookpost/domain';
import { LOGGER, type Logger } from '@hookpost/platform';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import type { Principal } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
import { NOT_A_CURSOR, pageLimit } from '../http/paging.js';

const MAX_BIGINT = 2n ** 63n - 1n;

export const messageEventsQuery = z.strictObject({
  limit: pageLimit(50),
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, NOT_A_CURSOR)
    // A position in a bigint column: nineteen digits can still be past its end. (Zod runs
    // the refinement even when the pattern failed, hence the test again.)
    .refine((cursor) => !/^\d{1,19}$/.test(cursor) || BigInt(cursor) <= MAX_BIGINT, NOT_A_CURSOR)
    .optional(),
});

export interface MessageEventView {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * Every event of one email, oldest first, for users who poll instead of (or besides)
 * receiving webhooks. Only the caller's organisation, and with a scoped key only the
 * events of its senders (or, inbound, its recipients). Test events are left out. A
 * message without any such event answers 404, as a foreign id does (ADR 0009).
 */
@Injectable()
export class MessagesService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async events(
    principal: Principal,
    messageId: string,
    query: z.infer<typeof messageEventsQuery>,
  ): Promise<{ data: MessageEventView[]; next_cursor: string | null }> {
    if (!mayBeStored(messageId)) throw ApiError.notFound('message');
    const found: Array<MessageEventView & { cursor: string }> = [];
    let after = query.cursor ?? '0';
    let more = true;
    // A scoped key may not see every row: read on until the page is full.
    while (found.length <= query.limit && more) {
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
          const { id, type, occurred_at: timestamp, data } = event;
          found.push({ id, type, timestamp, data, cursor: row.seq });
        }
      }
      after = rows[rows.length - 1]?.seq ?? after;
    }
    // A message with nothing the caller may see, another organisation's included, is not found.
    if (found.length === 0 && query.cursor === undefined) throw ApiError.notFound('message');
    const page = found.slice(0, query.limit);
    return {
      data: page.map(({ cursor: _, ...event }) => event),
      next_cursor: found.length > query.limit ? page[page.length - 1]!.cursor : null,
    };
  }

  /**
   * Erases the stored events of one email that the caller may see, as `events` lists
   * them, for a recipient's request to be forgotten (ADR 0026); answers how many. A replay
   * or retry that read them before still sends them; one after finds them gone (410
   * `event_expired`). Nothing the caller may see answers 404, as for `events`.
   */
  async erase(principal: Principal, messageId: string): Promise<number> {
    if (!mayBeStored(messageId)) throw ApiError.notFound('message');
    const rows = (await this.dataSource.query(
      `SELECT event_id, event FROM mail_events
       WHERE organization_id = $1 AND message_id = $2
         AND NOT (event ? 'target_subscription_id')`,
      [principal.organizationId, messageId],
    )) as Array<{ event_id: string; event: unknown }>;
    const visible = rows
      .filter((row) => keyCoversEvent(principal.scope, ingestedEventSchema.parse(row.event)))
      .map((row) => row.event_id);
    if (visible.length === 0) throw ApiError.notFound('message');
    const [, erased] = (await this.dataSource.query(
      `DELETE FROM mail_events WHERE event_id = ANY($1)`,
      [visible],
    )) as [unknown, number];
    // The caller's ids and a count, not the message id: it can carry the sender's address.
    this.logger.info(
      { organizationId: principal.organizationId, keyId: principal.keyId, erased },
      'message events erased',
    );
    return erased;
  }
}

/** No stored message id is empty, longer than a header line, or holds a NUL. */
function mayBeStored(messageId: string): boolean {
  return messageId.length > 0 && messageId.length <= 998 && !messageId.includes('\u0000');
}
