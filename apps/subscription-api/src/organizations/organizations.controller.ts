import { isId } from '@hookpost/contracts';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import type { z } from 'zod';
import { AdminGuard } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
import { ZodPipe } from '../http/zod.pipe.js';
import {
  createApiKeySchema,
  createOrganizationSchema,
  listApiKeysQuery,
  listOrganizationsQuery,
  updateOrganizationSchema,
} from './organizations.schemas.js';
import { OrganizationsService } from './organizations.service.js';

function organizationId(id: string): string {
  if (!isId('organization', id)) throw ApiError.notFound('organization');
  return id;
}

/** Operator routes (ADMIN_TOKEN): tenants and their API keys. */
@Controller('v1/organizations')
@UseGuards(AdminGuard)
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Post()
  create(
    @Body(new ZodPipe(createOrganizationSchema)) body: z.infer<typeof createOrganizationSchema>,
  ) {
    return this.organizations.create(body);
  }

  @Get()
  list(@Query(new ZodPipe(listOrganizationsQuery)) query: z.infer<typeof listOrganizationsQuery>) {
    return this.organizations.list(query);
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.organizations.get(organizationId(id));
  }

  @Patch(':id')
  update(
    @Param('id') id: string,
    @Body(new ZodPipe(updateOrganizationSchema)) body: z.infer<typeof updateOrganizationSchema>,
  ) {
    return this.organizations.update(organizationId(id), body);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.organizations.remove(organizationId(id));
  }

  @Get(':id/api-keys')
  listApiKeys(
    @Param('id') id: string,
    @Query(new ZodPipe(listApiKeysQuery)) query: z.infer<typeof listApiKeysQuery>,
  ) {
    return this.organizations.listApiKeys(organizationId(id), query);
  }

  @Post(':id/api-keys')
  createApiKey(
    @Param('id') id: string,
    @Body(new ZodPipe(createApiKeySchema)) body: z.infer<typeof createApiKeySchema>,
  ) {
    return this.organizations.createApiKey(organizationId(id), body);
  }

  @Delete(':id/api-keys/:keyId')
  @HttpCode(204)
  async revokeApiKey(@Param('id') id: string, @Param('keyId') keyId: string): Promise<void> {
    if (!isId('apiKey', keyId)) throw ApiError.notFound('API key');
    await this.organizations.revokeApiKey(organizationId(id), keyId);
  }
}
