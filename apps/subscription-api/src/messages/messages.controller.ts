import { Controller, Delete, Get, HttpCode, Param, Query, UseGuards } from '@nestjs/common';
import type { z } from 'zod';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '../auth/guards.js';
import { ZodPipe } from '../http/zod.pipe.js';
import { messageEventsQuery, MessagesService } from './messages.service.js';

/** `GET` and `DELETE /v1/messages/{messageId}/events`: see MessagesService. */
@Controller('v1/messages')
@UseGuards(ApiKeyGuard)
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Get(':messageId/events')
  events(
    @CurrentPrincipal() principal: Principal,
    @Param('messageId') messageId: string,
    @Query(new ZodPipe(messageEventsQuery)) query: z.infer<typeof messageEventsQuery>,
  ) {
    return this.messages.events(principal, messageId, query);
  }

  @Delete(':messageId/events')
  @HttpCode(200)
  async erase(@CurrentPrincipal() principal: Principal, @Param('messageId') messageId: string) {
    return { erased: await this.messages.erase(principal, messageId) };
  }
}
