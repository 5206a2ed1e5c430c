import { decryptSecret, encryptSecret, needsReencryption, type Keyring } from '@hookpost/domain';
import { LOGGER, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHash, randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import type { AuthenticatedRequest } from '../auth/guards.js';
import { ApiError } from '../http/api-error.js';
import { SECRET_KEYRING } from '../security.js';

/**
 * Idempotency keys (docs/adr/0020-idempotency-keys.md): a client that did not get the
 * answer to a POST (a time-out, a dropped connection) sends it again with the same
 * `Idempotency-Key` and gets the first answer, instead of a second webhook, test event or
 * replay. As Stripe and Svix do: kept 24 hours per organisation, refused with another
 * request, and answered 409 while the first is still running.
 */

/** How long an answer is kept for its key. */
export const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3_600;

/**
 * How long a running request holds its key. Past it the request is taken as lost with its
 * replica (a crash, a kill) and the key may run again: the operations behind keys are
 * each one transaction or one produce, done whole or not at all, save a replay (ADR
 * 0008), whose jobs, if queued twice, deliver as retries of the same deliveries.
 */
const RUNNING_LEASE_SECONDS = 120;

/** Keys as Stripe takes them: up to 255 characters, printable ASCII (a UUID, a hash, an id). */
const KEY = /^[\x21-\x7e]{1,255}$/;

const outcomes = new Counter({
  name: 'hookpost_api_idempotent_replays_total',
  help: 'API calls answered from an earlier call with the same Idempotency-Key, and calls refused because of one (in_use, reused)',
  labelNames: ['outcome'],
});

/** What an operation answered, kept for its key and given again to a repeat. */
export type KeptAnswer = Record<string, unknown>;

/**
 * An error an operation ended with is kept too (a 404, a 422, a replay's 413 after it
 * queued its share): sent again, the request would do the same, or worse, part of it
 * twice. Not one that says to try again later (409, 429), nor a server error: those leave
 * the key free for the retry they call for.
 */
function keepsError(error: unknown): error is ApiError {
  return (
    error instanceof ApiError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 409 &&
    error.status !== 429
  );
}

type Outcome =
  { answer: KeptAnswer } | { error: Pick<ApiError, 'status' | 'code' | 'message' | 'details'> };

/** The key as sent, checked; a bad one is a 400 that says what a key must be. */
export function parseIdempotencyKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!KEY.test(raw))
    throw new ApiError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID',
    );
  return raw;
}

/**
 * What makes two requests the same request: the operation (REST method and path, or gRPC
 * method) and its input, as sent. A hash, so that the table keeps no request bodies.
 */
export function requestFingerprint(operation: string, input: unknown): string {
  return createHash('sha256')
    .update(operation)
    .update('\n')
    .update(JSON.stringify(input ?? null))
    .digest('base64url');
}

type Claim = { kind: 'run'; token: string } | { kind: 'kept'; outcome: Outcome };

/**
 * The keys, in Postgres so that every replica sees them. A row is claimed by the first
 * request (`running`, with a lease and a token), then holds its answer, encrypted: some
 * answers carry a signing secret (a new webhook's, a rotated one), which no table keeps in
 * plain text. A request that fails for a reason worth retrying releases its key, so that
 * the retry runs (keepsError).
 */
@Injectable()
export class IdempotencyKeys {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(SECRET_KEYRING) private readonly keyring: Keyring,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Runs `operation` once per organisation and key: a repeat with the same fingerprint
   * gets the kept answer (`replayed`), or the kept error thrown again; one with another
   * fingerprint a 422, one while the first runs a 409.
   */
  async run(
    organizationId: string,
    key: string,
    fingerprint: string,
    operation: () => Promise<KeptAnswer>,
  ): Promise<{ answer: KeptAnswer; replayed: boolean }> {
    const claim = await this.claim(organizationId, key, fingerprint);
    if (claim.kind === 'kept') {
      outcomes.inc({ outcome: 'replayed' });
      if ('error' in claim.outcome) {
        const { status, code, message, details } = claim.outcome.error;
        throw Object.assign(new ApiError(status, code, message, details), { replayed: true });
      }
      return { answer: claim.outcome.answer, replayed: true };
    }
    let outcome: Outcome;
    let failure: ApiError | undefined;
    try {
      outcome = { answer: await operation() };
    } catch (error) {
      if (!keepsError(error)) {
        await this.release(organizationId, key, claim.token);
        throw error;
      }
      failure = error;
      const { status, code, message, details } = error;
      outcome = { error: { status, code, message, details } };
    }
    await this.keep(organizationId, key, claim.token, outcome);
    if (failure) throw failure;
    return { answer: (outcome as { answer: KeptAnswer }).answer, replayed: false };
  }

  /**
   * Removes keys older than the TTL, a chunk at a time; returns how many. An expired key
   * sent again is claimed anew anyway: this only keeps the table to a day's keys. Run with
   * the delivery log's purge (DeliveryLogRetention), in every replica.
   */
  async purge(chunk = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      const [, count] = (await this.dataSource.query(
        `DELETE FROM idempotency_keys WHERE (organization_id, key) IN (
           SELECT organization_id, key FROM idempotency_keys
           WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)`,
        [IDEMPOTENCY_KEY_TTL_SECONDS, chunk],
      )) as [unknown, number];
      total += count;
      if (count < chunk) return total;
    }
  }

  /**
   * Re-encrypts the kept answers still under an older key of the keyring (with the
   * secrets, by `reencrypt-secrets`), so that the old key can go. One that no key of the
   * keyring opens is counted as failed and left: it expires within the day.
   */
  async reencrypt(): Promise<{ reencrypted: number; failed: number }> {
    const counts = { reencrypted: 0, failed: 0 };
    let after = { organizationId: '', key: '' };
    for (;;) {
      const rows = (await this.dataSource.query(
        `SELECT organization_id, key, answer FROM idempotency_keys
         WHERE (organization_id, key) > ($1, $2) AND answer IS NOT NULL
         ORDER BY organization_id, key LIMIT 500`,
        [after.organizationId, after.key],
      )) as Array<{ organization_id: string; key: string; answer: string }>;
      if (rows.length === 0) return counts;
      for (const { organization_id: organizationId, key, answer } of rows) {
        if (!needsReencryption(this.keyring, answer)) continue;
        const bound = boundTo(organizationId, key);
        let again: string;
        try {
          again = encryptSecret(this.keyring, decryptSecret(this.keyring, answer, bound), bound);
        } catch {
          counts.failed++;
          continue;
        }
        await this.dataSource.query(
          `UPDATE idempotency_keys SET answer = $3
           WHERE organization_id = $1 AND key = $2 AND answer = $4`,
          [organizationId, key, again, answer],
        );
        counts.reencrypted++;
      }
      const last = rows[rows.length - 1]!;
      after = { organizationId: last.organization_id, key: last.key };
    }
  }

  private async claim(organizationId: string, key: string, fingerprint: string): Promise<Claim> {
    // Twice at most: a key released between the insert and the read is claimed next time.
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = randomUUID();
      // A new key, or one whose answer has expired, or whose holder's lease has lapsed
      // (taken again only by the same request).
      const claimed = (await this.dataSource.query(
        `INSERT INTO idempotency_keys AS k
           (organization_id, key, fingerprint, state, token, lease_until, created_at)
         VALUES ($1, $2, $3, 'running', $4, now() + make_interval(secs => $5), now())
         ON CONFLICT (organization_id, key) DO UPDATE
           SET fingerprint = excluded.fingerprint, state = 'running', token = excluded.token,
               lease_until = excluded.lease_until, created_at = excluded.created_at,
               answer = NULL
           WHERE k.created_at < now() - make_interval(secs => $6)
              OR (k.state = 'running' AND k.lease_until < now()
                  AND k.fingerprint = excluded.fingerprint)
         RETURNING token`,
        [
          organizationId,
          key,
          fingerprint,
          token,
          RUNNING_LEASE_SECONDS,
          IDEMPOTENCY_KEY_TTL_SECONDS,
        ],
      )) as Array<{ token: string }>;
      if (claimed.length > 0) return { kind: 'run', token };
      const [held] = (await this.dataSource.query(
        `SELECT fingerprint, state, answer FROM idempotency_keys
         WHERE organization_id = $1 AND key = $2`,
        [organizationId, key],
      )) as Array<{ fingerprint: string; state: 'running' | 'done'; answer: string | null }>;
      if (!held) continue;
      if (held.fingerprint !== fingerprint) {
        outcomes.inc({ outcome: 'reused' });
        throw new ApiError(
          422,
          'idempotency_key_reused',
          'this Idempotency-Key was sent with another request in the last 24 hours; use a new key for a new request',
        );
      }
      if (held.state === 'running' || held.answer === null) {
        outcomes.inc({ outcome: 'in_use' });
        throw new ApiError(
          409,
          'idempotency_key_in_use',
          'a request with this Idempotency-Key is still running; send it again once that one has answered',
        );
      }
      const kept = decryptSecret(this.keyring, held.answer, boundTo(organizationId, key));
      return { kind: 'kept', outcome: JSON.parse(kept) as Outcome };
    }
    throw new ApiError(
      409,
      'idempotency_key_in_use',
      'a request with this Idempotency-Key is still running; send it again once that one has answered',
    );
  }

  /**
   * Keeps what the request came to. Should that fail, the caller still gets its answer:
   * the operation is done, and an error now would only make the client send it again; the
   * key stays held until its lease lapses, then runs again (the replicas' lost-request case).
   */
  private async keep(organizationId: string, key: string, token: string, outcome: Outcome) {
    try {
      await this.dataSource.query(
        `UPDATE idempotency_keys SET state = 'done', answer = $4, token = NULL
         WHERE organization_id = $1 AND key = $2 AND token = $3`,
        [
          organizationId,
          key,
          token,
          encryptSecret(this.keyring, JSON.stringify(outcome), boundTo(organizationId, key)),
        ],
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'an idempotent answer could not be kept');
    }
  }

  private async release(organizationId: string, key: string, token: string): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE organization_id = $1 AND key = $2 AND token = $3`,
      [organizationId, key, token],
    );
  }
}

/**
 * The associated data of a kept answer: the organisation and the key, so that an answer
 * copied to another organisation's key fails to decrypt. A prefix no subscription id or
 * other field's binding starts with.
 */
function boundTo(organizationId: string, key: string): string {
  return `idempotent_answer:${organizationId}:${key}`;
}

/**
 * Idempotency-Key over REST: on the POSTs of API-key routes (the ones that create or
 * send), after the rate limit. A repeat gets the first answer's status, ETag, Location
 * and body, and `Idempotent-Replayed: true`. Other methods are idempotent by themselves
 * (PUT, PATCH and DELETE with If-Match) and ignore the header, as Stripe's API does.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly keys: IdempotencyKeys) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<Request & AuthenticatedRequest>();
    const response = http.getResponse<Response>();
    const principal = request.principal;
    if (!principal || request.method !== 'POST') return next.handle();
    const key = parseIdempotencyKey(request.header('idempotency-key'));
    if (key === undefined) return next.handle();
    const fingerprint = requestFingerprint(`POST ${request.path}`, request.body);
    const replayedHeader = (error: unknown) => {
      if ((error as { replayed?: boolean }).replayed)
        response.setHeader('Idempotent-Replayed', 'true');
      throw error;
    };
    return from(
      this.keys
        .run(principal.organizationId, key, fingerprint, async () => {
          const body = (await lastValueFrom(next.handle(), { defaultValue: undefined })) as unknown;
          return {
            status: response.statusCode,
            etag: response.getHeader('ETag'),
            location: response.getHeader('Location'),
            body,
          };
        })
        .then(({ answer, replayed }) => {
          if (!replayed) return answer.body;
          response.status(answer.status as number);
          if (answer.etag) response.setHeader('ETag', answer.etag as string);
          if (answer.location) response.setHeader('Location', answer.location as string);
          response.setHeader('Idempotent-Replayed', 'true');
          return answer.body;
        }, replayedHeader),
    );
  }
}
