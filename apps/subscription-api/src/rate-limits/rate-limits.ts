import { CONFIG } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Response } from 'express';
import { Counter } from 'prom-client';
import type { Observable } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/guards.js';
import type { ApiConfig } from '../config.js';
import { ApiError } from '../http/api-error.js';
import { TokenBuckets, type Decision } from './token-buckets.js';

/** API_RATE_LIMIT's burst: this many seconds' worth of requests at once. */
const REQUEST_BURST_SECONDS = 2;

const limited = new Counter({
  name: 'hookpost_api_limited_total',
  help: 'API calls refused by a per-organisation limit: requests (API_RATE_LIMIT) and sends (API_SEND_RATE_LIMIT) answered 429, replay_in_progress (a replay of the webhook still queuing) answered 409',
  labelNames: ['limit'],
});

/** Counts a call refused by a limit kept elsewhere (one replay of a webhook at a time). */
export function countRefusal(limit: 'replay_in_progress'): void {
  limited.inc({ limit });
}

/** 429 `rate_limited`, naming the limit and when to try again. */
export class RateLimitedError extends ApiError {
  constructor(
    readonly decision: Decision,
    limit: string,
  ) {
    super(429, 'rate_limited', `${limit}; retry in ${decision.retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}

/**
 * The IETF draft's RateLimit fields (draft-ietf-httpapi-ratelimit-headers, the separate
 * fields of its earlier versions, as most clients read them) for one decision, and
 * Retry-After when it is a refusal. The limit is the burst; the reset, when the bucket is
 * full again.
 */
export function setRateLimitHeaders(response: Response, decision: Decision): void {
  response.setHeader('RateLimit-Limit', String(decision.limit));
  response.setHeader('RateLimit-Remaining', String(decision.remaining));
  response.setHeader('RateLimit-Reset', String(decision.resetSeconds));
  if (!decision.allowed) response.setHeader('Retry-After', String(decision.retryAfterSeconds));
}

/**
 * The per-organisation limits of this replica (docs/adr/0018-api-rate-limits.md): every
 * call with an API key (API_RATE_LIMIT a second), and test events and replays
 * (API_SEND_RATE_LIMIT a minute). Held in memory: each replica counts on its own, so an
 * organisation spread over N replicas gets up to N times the limits. Operator calls
 * (ADMIN_TOKEN) are not limited. One replay of a webhook at a time is kept in Postgres,
 * for every replica (ReplayLocks).
 */
@Injectable()
export class RateLimits {
  private readonly requests: TokenBuckets | undefined;
  private readonly sends: TokenBuckets | undefined;
  private readonly requestLimit: string;
  private readonly sendLimit: string;

  constructor(@Inject(CONFIG) config: Pick<ApiConfig, 'API_RATE_LIMIT' | 'API_SEND_RATE_LIMIT'>) {
    const perSecond = config.API_RATE_LIMIT;
    const perMinute = config.API_SEND_RATE_LIMIT;
    const burst = perSecond * REQUEST_BURST_SECONDS;
    this.requests = perSecond > 0 ? new TokenBuckets(perSecond, burst) : undefined;
    // A minute's worth at once: an organisation may test or replay that many in a row.
    this.sends = perMinute > 0 ? new TokenBuckets(perMinute / 60, perMinute) : undefined;
    this.requestLimit = `too many requests: the limit is ${perSecond} a second per organisation, in bursts of up to ${burst}`;
    this.sendLimit = `too many test events and replays: the limit is ${perMinute} a minute per organisation`;
  }

  /**
   * Counts one call of the organisation. Throws RateLimitedError past the limit; else the
   * decision, for the RateLimit headers (undefined when the limit is off).
   */
  request(organizationId: string): Decision | undefined {
    return this.take(this.requests, organizationId, 'requests', this.requestLimit);
  }

  /** Counts one test event or replay of the organisation; throws past the limit. */
  send(organizationId: string): void {
    this.take(this.sends, organizationId, 'sends', this.sendLimit);
  }

  private take(
    buckets: TokenBuckets | undefined,
    organizationId: string,
    limit: 'requests' | 'sends',
    message: string,
  ): Decision | undefined {
    if (!buckets) return undefined;
    const decision = buckets.take(organizationId);
    if (decision.allowed) return decision;
    limited.inc({ limit });
    throw new RateLimitedError(decision, message);
  }
}

/**
 * API_RATE_LIMIT over REST: after the guards, so on every route ApiKeyGuard let through,
 * with the caller's organisation; operator routes carry no principal and are not counted.
 * Answers carry the RateLimit fields; a refusal leaves as the error filter renders it.
 */
@Injectable()
export class RateLimitInterceptor implements NestInterceptor {
  constructor(private readonly limits: RateLimits) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const principal = http.getRequest<AuthenticatedRequest>().principal;
    const decision = principal && this.limits.request(principal.organizationId);
    if (decision) setRateLimitHeaders(http.getResponse<Response>(), decision);
    return next.handle();
  }
}
