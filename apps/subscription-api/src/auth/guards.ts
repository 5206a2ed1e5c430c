import type { Actor } from '@hookpost/contracts';
import { CONFIG } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  createParamDecorator,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import type { ApiConfig } from '../config.js';
import { ApiError } from '../http/api-error.js';
import { bearerToken, hashApiKey, tokensEqual } from './credentials.js';

export interface KeyScope {
  domains?: string[];
  mailboxes?: string[];
}

/** Who is calling with an API key: always one organisation, maybe a narrower scope. */
export interface Principal {
  organizationId: string;
  keyId: string;
  scope: KeyScope;
}

/** The caller as recorded on the changes it makes: its key's id. */
export const actorOf = (principal: Principal): Actor => ({ kind: 'api_key', id: principal.keyId });

/** A request ApiKeyGuard has let through carries its caller. */
export type AuthenticatedRequest = Request & { principal?: Principal };

/** How often a key's `last_used_at` is written: the operator reads it to the minute. */
const LAST_USED_RESOLUTION_MS = 60_000;

const unauthorized = () => new ApiError(401, 'unauthorized', 'missing or invalid API key');

/** Operator routes: `Authorization: Bearer <ADMIN_TOKEN>`. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: ApiConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (!token || !tokensEqual(token, this.config.ADMIN_TOKEN)) {
      throw new ApiError(401, 'unauthorized', 'missing or invalid operator token');
    }
    return true;
  }
}

/** The caller an `Authorization: Bearer <api key>` value names (REST header, gRPC metadata). */
export async function authenticateApiKey(
  dataSource: DataSource,
  authorization: string | undefined,
): Promise<Principal> {
  const token = bearerToken(authorization);
  if (!token) throw unauthorized();
  const rows = (await dataSource.query(
    `SELECT id, organization_id, scope, last_used_at, expires_at <= now() AS expired
     FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hashApiKey(token)],
  )) as Array<{
    id: string;
    organization_id: string;
    scope: KeyScope;
    last_used_at: Date | null;
    expired: boolean | null;
  }>;
  const row = rows[0];
  if (!row) throw unauthorized();
  // Its holder is told why, so that it asks for a new key instead of checking this one.
  if (row.expired) throw new ApiError(401, 'api_key_expired', 'the API key has expired');
  // A write a minute per key, not one per call.
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
    await dataSource.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id]);
  }
  return { organizationId: row.organization_id, keyId: row.id, scope: row.scope };
}

/** Customer routes: `Authorization: Bearer <api key>`, not revoked. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly dataSource: DataSource) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.principal = await authenticateApiKey(this.dataSource, request.headers.authorization);
    return true;
  }
}

/** The authenticated caller of a route guarded by ApiKeyGuard. */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, context: ExecutionContext): Principal => {
    const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
    if (!principal) throw unauthorized();
    return principal;
  },
);
