import { isId } from '@hookpost/contracts';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '../auth/guards.js';
import { DeliveryLog } from '../deliveries/delivery-log.js';
import { RedeliveryService, replayWindow } from '../deliveries/redelivery.service.js';
import { ApiError } from '../http/api-error.js';
import { ZodPipe } from '../http/zod.pipe.js';
import {
  createWebhookSchema,
  emptySchema,
  listWebhooksQuery,
  logsQuery,
  patchWebhookSchema,
  replaySchema,
  rotateSchema,
  statsQuery,
  historyQuery,
  testSchema,
  type CreateWebhookInput,
  type PatchWebhookInput,
} from './webhooks.schemas.js';
import { WebhooksService, type WebhookView } from './webhooks.service.js';

function webhookId(id: string): string {
  if (!isId('webhook', id)) throw ApiError.notFound('webhook');
  return id;
}

/** `If-Match: "3"` (also `W/"3"` or `3`) -> 3; `*` or absent -> undefined. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!match)
    throw new ApiError(
      400,
      'invalid_if_match',
      'If-Match must be the version from the ETag, e.g. "3"',
    );
  return Number(match[1]);
}

/** Customer routes (API key): the organisation's webhook subscriptions. */
@Controller('v1/webhooks')
@UseGuards(ApiKeyGuard)
export class WebhooksController {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly deliveryLog: DeliveryLog,
    private readonly redelivery: RedeliveryService,
  ) {}

  @Post()
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body(new ZodPipe(createWebhookSchema)) body: CreateWebhookInput,
    @Res({ passthrough: true }) response: Response,
  ) {
    const created = await this.webhooks.create(principal, body);
    response.setHeader('ETag', `"${created.version}"`);
    response.setHeader('Location', `/v1/webhooks/${created.id}`);
    return created;
  }

  @Get()
  list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodPipe(listWebhooksQuery)) query: z.infer<typeof listWebhooksQuery>,
  ) {
    return this.webhooks.list(principal, query.limit, query.cursor, query.status);
  }

  @Get(':id')
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WebhookView> {
    return withEtag(response, await this.webhooks.get(principal, webhookId(id)));
  }

  @Get(':id/logs')
  async logs(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodPipe(logsQuery)) query: z.infer<typeof logsQuery>,
  ) {
    // Through the subscription first: another organisation's logs answer 404 like its webhooks.
    const webhook = await this.webhooks.get(principal, webhookId(id));
    return this.deliveryLog.page(webhook.id, query.limit, query);
  }

  @Get(':id/stats')
  async stats(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodPipe(statsQuery)) query: z.infer<typeof statsQuery>,
  ) {
    const webhook = await this.webhooks.get(principal, webhookId(id));
    return this.deliveryLog.stats(webhook.id, query.since, query.until);
  }

  @Get(':id/history')
  history(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodPipe(historyQuery)) query: z.infer<typeof historyQuery>,
  ) {
    return this.webhooks.history(principal, webhookId(id), query.limit, query.cursor);
  }

  @Patch(':id')
  async patch(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body(new ZodPipe(patchWebhookSchema)) body: PatchWebhookInput,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WebhookView> {
    return withEtag(
      response,
      await this.webhooks.update(principal, webhookId(id), body, parseIfMatch(ifMatch)),
    );
  }

  @Put(':id')
  async put(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body(new ZodPipe(patchWebhookSchema)) body: PatchWebhookInput,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WebhookView> {
    return withEtag(
      response,
      await this.webhooks.update(principal, webhookId(id), body, parseIfMatch(ifMatch)),
    );
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    await this.webhooks.remove(principal, webhookId(id), parseIfMatch(ifMatch));
  }

  @Post(':id/pause')
  @HttpCode(200)
  async pause(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodPipe(emptySchema)) _body: object,
    @Res({ passthrough: true }) response: Response,
  ) {
    return withEtag(response, await this.webhooks.setActive(principal, webhookId(id), false));
  }

  @Post(':id/resume')
  @HttpCode(200)
  async resume(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodPipe(emptySchema)) _body: object,
    @Res({ passthrough: true }) response: Response,
  ) {
    return withEtag(response, await this.webhooks.setActive(principal, webhookId(id), true));
  }

  @Post(':id/test')
  @HttpCode(202)
  test(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodPipe(testSchema)) body: z.infer<typeof testSchema>,
  ) {
    return this.redelivery.test(principal, webhookId(id), body.type);
  }

  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(202)
  retry(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('deliveryId') deliveryId: string,
    @Body(new ZodPipe(emptySchema)) _body: object,
  ) {
    if (!isId('delivery', deliveryId)) throw ApiError.notFound('delivery');
    return this.redelivery.retry(principal, webhookId(id), deliveryId);
  }

  @Post(':id/replay')
  @HttpCode(202)
  replay(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodPipe(replaySchema)) body: z.infer<typeof replaySchema>,
  ) {
    return this.redelivery.replay(principal, webhookId(id), replayWindow(body));
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  async rotateSecret(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(new ZodPipe(rotateSchema)) body: z.infer<typeof rotateSchema>,
    @Res({ passthrough: true }) response: Response,
  ) {
    return withEtag(
      response,
      await this.webhooks.rotateSecret(principal, webhookId(id), body.secret),
    );
  }
}

function withEtag<T extends { version: number }>(response: Response, view: T): T {
  response.setHeader('ETag', `"${view.version}"`);
  return view;
}
