import {
  deliveryJobSchema,
  encodeJson,
  HEADERS,
  newId,
  retryTopic,
  TOPICS,
  VIEW_LEASE_MS,
  type AttemptEvent,
  type DeliveryJob,
} from '@hookpost/contracts';
import {
  boundTo,
  BoundedCache,
  decryptSecret,
  deferralDelay,
  putOffForSaturation,
  nextStep,
  openHeaders,
  Pacer,
  SecretCryptoError,
  serialisePayload,
  signBodyHex,
  signingSecrets,
  signStandardWebhook,
  waitFor,
  type AttemptResult,
  type Keyring,
} from '@hookpost/domain';
import {
  CoalescingProducer,
  CONFIG,
  decodeOrPassOver,
  KafkaProducer,
  KeyedLimiter,
  Limiter,
  LOGGER,
  TRACING,
  type IncomingMessage,
  type Lease,
  type TraceSpan,
  type Tracing,
  type Logger,
  type OutgoingMessage,
} from '@hookpost/platform';
import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Histogram } from 'prom-client';
import type { DelivererConfig } from '../config.js';
import { EndpointView } from '../endpoints/endpoint-view.js';
import { EndpointBreakers } from './breakers.js';
import { WebhookClient } from '../http/webhook-client.js';
import { SECRET_KEYRING, USER_AGENT } from '../security.js';

const attempts = new Counter({
  name: 'hookpost_delivery_attempts_total',
  help: 'Delivery attempts by outcome',
  labelNames: ['outcome'],
});
const deadLetters = new Counter({
  name: 'hookpost_deliveries_dead_total',
  help: 'Deliveries that exhausted the retry schedule',
});
const deferrals = new Counter({
  name: 'hookpost_delivery_deferrals_total',
  help: 'Jobs put off to a retry delay, without an attempt, because their endpoint was saturated',
});
const unsignable = new Counter({
  name: 'hookpost_delivery_unsignable_total',
  help: "Jobs put off to a retry delay, without an attempt, because their subscription's signing secret or custom headers could not be decrypted",
});
const notInView = new Counter({
  name: 'hookpost_delivery_view_behind_total',
  help: "Jobs put off to a retry delay, without an attempt, because their subscription's version had not reached the deliverer's view, or the view had not confirmed lately that it is current",
});
const endToEnd = new Histogram({
  name: 'hookpost_delivery_latency_seconds',
  help: 'From the event (occurred_at) to its successful delivery, retries included',
  buckets: [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 43200, 86400,
  ],
});
const httpDuration = new Histogram({
  name: 'hookpost_delivery_http_duration_seconds',
  help: 'Time from request start to response headers, per attempt that got a response',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

/** How long an attempt's outcome waits for others to share its produce request. */
const OUTCOME_LINGER_MS = 20;

/**
 * Delivery attempts: look the subscription up in the deliverer's view, render and sign
 * the payload (secrets and custom headers are decrypted here, in memory, and nowhere
 * else on the delivery path), POST it, and turn the outcome into Kafka messages: the
 * attempt event, and the job's next retry on its delay topic or, after the last delay,
 * the dead-letter topic.
 */
@Injectable()
export class DeliveryService {
  private readonly pool: Limiter;
  private readonly perEndpoint: KeyedLimiter;
  /** The turns of endpoints with a rate limit (ADR 0021). */
  private readonly pacer = new Pacer();
  private readonly out: CoalescingProducer;
  /** Set once the consumers have stopped and the requests still in flight are cut short. */
  private stopping = false;
  /**
   * Decrypted signing secrets, by subscription and ciphertext: decrypting for every attempt
   * cost as much as signing. In memory only, where the secrets are anyway while signing; a
   * rotated or re-encrypted secret has a new ciphertext, so it is never served stale.
   */
  private readonly plaintexts = new BoundedCache<string>();
  /**
   * Decrypted custom headers, by subscription and version: a version's headers never
   * change, and its id and number make a far shorter key than the ciphertext would.
   */
  private readonly customHeaders = new BoundedCache<Record<string, string>>();

  constructor(
    private readonly endpoints: EndpointView,
    private readonly client: WebhookClient,
    private readonly breakers: EndpointBreakers,
    producer: KafkaProducer,
    @Inject(SECRET_KEYRING) private readonly keyring: Keyring,
    @Inject(CONFIG) private readonly config: DelivererConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TRACING) private readonly tracing: Tracing,
  ) {
    this.pool = new Limiter(config.DELIVERY_CONCURRENCY);
    this.perEndpoint = new KeyedLimiter(config.ENDPOINT_CONCURRENCY);
    // What is sent here (attempt events, retries) is waited on by no receiver, only by the
    // offset commit: it may linger, and leaves in a few large produce requests a second.
    this.out = new CoalescingProducer(producer, { lingerMs: OUTCOME_LINGER_MS });
  }

  /** The consumers have stopped: what fails from here on was cut short by the stop. */
  abandonInFlight(): void {
    this.stopping = true;
  }

  /**
   * Takes one job from Kafka: a job that is not due yet (a retry) is handed back with its
   * due time; any other starts its attempt at once, and the returned promise settles when
   * the attempt's outcome is acknowledged by Kafka, so that its offset may be committed.
   */
  dispatch(
    message: IncomingMessage,
    windowShare: number,
    lease: Lease,
  ): Promise<void> | { notBefore: number } {
    const job = decodeOrPassOver(deliveryJobSchema, message, this.logger, 'delivery job');
    if (!job) return Promise.resolve();
    const notBefore = job.notBefore ? Date.parse(job.notBefore) : 0;
    if (notBefore > Date.now()) return { notBefore };
    return this.deliver(job, message.headers[HEADERS.traceparent], windowShare, lease);
  }

  private async deliver(
    job: DeliveryJob,
    traceparent: string | undefined,
    windowShare: number,
    lease: Lease,
  ): Promise<void> {
    const span = this.tracing.start('deliver', traceparent, {
      'hookpost.delivery_id': job.deliveryId,
      'hookpost.subscription_id': job.subscriptionId,
      'hookpost.attempt': job.attempt,
    });
    // Headers for what this job sends on: retries and the attempt event continue its trace.
    const headers = () =>
      span.traceparent ? { [HEADERS.traceparent]: span.traceparent } : undefined;
    // Its endpoint asked for more time than the longest delay: it waits on, unattempted.
    const waiting =
      job.retryAfter && waitFor(new Date(job.retryAfter), this.config.RETRY_SCHEDULE, new Date());
    if (waiting) {
      // As for a job put off: its repeat sends it on, and a copy sent here too would start
      // a second chain of retries beside the repeat's.
      if (!lease.live) return span.end('lapsed: repeated from the last commit');
      const later: DeliveryJob = { ...job, notBefore: waiting.notBefore.toISOString() };
      try {
        await this.out.send([
          {
            topic: retryTopic(waiting.delaySeconds),
            key: job.subscriptionId,
            value: encodeJson(later),
            headers: headers(),
          },
        ]);
      } finally {
        span.end();
      }
      return;
    }
    // A job can overtake the change of its subscription (they travel on different
    // topics): the view is waited for here, holding none of the slots that other
    // endpoints' jobs need, and the attempt then reads the subscription as it is by then.
    const seen =
      this.endpoints.current(job.subscriptionId, job.subscriptionVersion) ??
      (await this.endpoints.atLeast(job.subscriptionId, job.subscriptionVersion));
    if (!seen || seen.version < job.subscriptionVersion) {
      const why = cannotAttemptYet(
        new SubscriptionNotInView(job.subscriptionId, job.subscriptionVersion),
      )!;
      return this.notYet(job, lease, span, headers(), why);
    }
    this.breakers.follow(job.subscriptionId, seen.url);
    // An endpoint that cannot keep up with its jobs (slow, or hanging until its breaker
    // opens) would otherwise gather them here without bound, and they would hold the
    // window of their partition, which healthy endpoints share: put new ones off instead.
    // Jobs queued behind an endpoint that answers are not that: they drain on their own.
    const queued = this.perEndpoint.queued(job.subscriptionId);
    if (
      putOffForSaturation({
        waiting: queued,
        answerMs: this.breakers.answerMs(job.subscriptionId),
        typicalAnswerMs: this.breakers.typicalAnswerMs(),
        // The turns already taken, then one per job waiting for a slot.
        pacedMs: seen.rateLimit
          ? this.pacer.reservedMs(job.subscriptionId, Date.now()) +
            (queued * 1_000) / seen.rateLimit
          : 0,
        windowShare,
        queueLimit: this.config.ENDPOINT_QUEUE_LIMIT,
      })
    )
      return this.putOff(job, lease, span, headers(), deferrals, 'endpoint saturated');
    // The endpoint's turn first (its cap, then its rate limit), then a slot of the shared
    // pool: a job queued behind its endpoint holds no slot that a healthy endpoint could
    // use. A job its breaker refuses needs neither, nor to wait behind its endpoint's
    // requests still in flight.
    let attempted: Awaited<ReturnType<DeliveryService['attempt']>> | undefined;
    try {
      attempted = this.breakers.refuses(job.subscriptionId)
        ? await this.attempt(job)
        : await this.perEndpoint.run(job.subscriptionId, () => {
            const send = () => this.pool.run(() => this.attempt(job));
            const wait = this.turnIn(job);
            if (wait === 0) return send();
            // The wait holds no timer that would keep a stopping process alive: a job still
            // waiting when the deliverer stops is repeated by the next owner of its
            // partition. A job whose lease lapsed meanwhile (a rebalance) is not sent: it is
            // repeated from the last commit, and sent then, once.
            return sleep(wait, undefined, { ref: false }).then(() =>
              lease.live ? send() : undefined,
            );
          });
    } catch (error) {
      const why = cannotAttemptYet(error);
      if (!why) throw error;
      return this.notYet(job, lease, span, headers(), why);
    }
    if (!attempted) return span.end('lapsed while waiting its turn: repeated from the last commit');
    const { event } = attempted;
    let { messages } = attempted;
    if (!lease.live) {
      // The job's offset will not be committed (a rebalance, or this deliverer's stop): it
      // is repeated, and its retry or dead letter is the repeat's to send. One sent here
      // too would start a second chain of retries beside the repeat's.
      if (this.stopping && event.outcome === 'failed' && event.httpStatus === null) {
        // Cut short by this deliverer's own stop, not the endpoint's failure: even the
        // attempt would count toward pausing the subscription.
        span.end('abandoned at shutdown');
        return;
      }
      messages = messages.filter((m) => m.topic === TOPICS.deliveryAttempts);
    }
    span.setAttributes({
      'hookpost.outcome': event.outcome,
      ...(event.httpStatus === null ? {} : { 'http.response.status_code': event.httpStatus }),
    });
    try {
      await this.out.send(messages.map((m) => ({ ...m, headers: headers() })));
    } finally {
      span.end(event.outcome === 'failed' ? (event.error ?? 'failed') : undefined);
    }
  }

  /**
   * Takes the job's turn under its subscription's rate limit, as the subscription is now,
   * and says how long to wait for it (ms; 0 without a limit). Only a request that will go
   * takes a turn: a paused subscription's jobs are skipped, and those its breaker refuses
   * are short-circuited, without using turns up.
   */
  private turnIn(job: DeliveryJob): number {
    const subscription = this.endpoints.current(job.subscriptionId, job.subscriptionVersion);
    if (
      !subscription?.rateLimit ||
      subscription.deleted ||
      subscription.status !== 'active' ||
      this.breakers.refuses(job.subscriptionId)
    )
      return 0;
    return this.pacer.reserve(job.subscriptionId, subscription.rateLimit, Date.now());
  }

  /**
   * A job that cannot be attempted yet, through nothing its endpoint did: failing the
   * attempt would count toward pausing the subscription, and failing the job would fetch
   * its partition again and again. It is logged and put off, unattempted, as for a
   * saturated endpoint; it comes back until it can go.
   */
  private notYet(
    job: DeliveryJob,
    lease: Lease,
    span: TraceSpan,
    headers: Record<string, string> | undefined,
    why: NonNullable<ReturnType<typeof cannotAttemptYet>>,
  ): Promise<void> {
    this.logger.error(
      { subscriptionId: job.subscriptionId, deliveryId: job.deliveryId, reason: why.reason },
      why.message,
    );
    return this.putOff(job, lease, span, headers, why.counter, why.reason);
  }

  /** Sends the job on unattempted (`deferred`), counted, and ends its span saying why. */
  private async putOff(
    job: DeliveryJob,
    lease: Lease,
    span: TraceSpan,
    headers: Record<string, string> | undefined,
    counter: Counter,
    reason: string,
  ): Promise<void> {
    // Its repeat puts it off again, or attempts it.
    if (!lease.live) return span.end('lapsed: repeated from the last commit');
    try {
      await this.out.send([{ ...this.deferred(job), headers }]);
      counter.inc();
    } finally {
      span.end(`deferred: ${reason}`);
    }
  }

  /**
   * The same job, unattempted, on a retry delay's topic: it comes back then with its
   * attempt number unchanged. The first delay the first time, the next the next time
   * (`deferralDelay`). A delay of the schedule, not a shorter one of its own, keeps every
   * delay topic in the order its jobs fall due.
   */
  private deferred(job: DeliveryJob): OutgoingMessage {
    const earlier = job.deferrals ?? 0;
    const delaySeconds = deferralDelay(this.config.RETRY_SCHEDULE, earlier);
    const later: DeliveryJob = {
      ...job,
      notBefore: new Date(Date.now() + delaySeconds * 1_000).toISOString(),
      deferrals: earlier + 1,
    };
    return { topic: retryTopic(delaySeconds), key: job.subscriptionId, value: encodeJson(later) };
  }

  /** One attempt, and what follows from it, as the messages to send. */
  private async attempt(
    job: DeliveryJob,
  ): Promise<{ messages: OutgoingMessage[]; event: AttemptEvent }> {
    const { event, result } = await this.send(job);
    const now = new Date();
    const step = nextStep(job.attempt, result, this.config.RETRY_SCHEDULE, now);
    const attemptEvent: AttemptEvent = {
      ...event,
      // When the endpoint asked for later than the delay topic holds it, that time.
      nextRetryAt: step.kind === 'retry' ? (step.retryAfter ?? step.notBefore).toISOString() : null,
    };
    attempts.inc({ outcome: attemptEvent.outcome });
    if (attemptEvent.outcome === 'succeeded') {
      endToEnd.observe(Math.max(0, now.getTime() - Date.parse(job.event.occurred_at)) / 1000);
    }
    this.logger.debug(
      {
        deliveryId: job.deliveryId,
        subscriptionId: job.subscriptionId,
        eventId: job.event.id,
        attempt: job.attempt,
        outcome: event.outcome,
        httpStatus: event.httpStatus,
      },
      'delivery attempt',
    );
    const out: OutgoingMessage[] = [
      { topic: TOPICS.deliveryAttempts, key: job.subscriptionId, value: encodeJson(attemptEvent) },
    ];
    if (step.kind === 'retry') {
      // Deferrals are counted since the last attempt: an attempt starts the count again.
      const { deferrals: _, retryAfter: __, ...attempted } = job;
      const retry: DeliveryJob = {
        ...attempted,
        attempt: step.attempt,
        notBefore: step.notBefore.toISOString(),
        ...(step.retryAfter && { retryAfter: step.retryAfter.toISOString() }),
      };
      out.push({
        topic: retryTopic(step.delaySeconds),
        key: job.subscriptionId,
        value: encodeJson(retry),
      });
    } else if (step.kind === 'dead') {
      deadLetters.inc();
      out.push({ topic: TOPICS.deliveriesDead, key: job.subscriptionId, value: encodeJson(job) });
    }
    return { messages: out, event: attemptEvent };
  }

  private async send(
    job: DeliveryJob,
  ): Promise<{ event: Omit<AttemptEvent, 'nextRetryAt'>; result: AttemptResult }> {
    const subscription = await this.endpoints.atLeast(job.subscriptionId, job.subscriptionVersion);
    // The view is behind the matcher's (its consumer restarting, say): the job's own
    // version of the subscription has not arrived, and an older one may say otherwise.
    if (!subscription || subscription.version < job.subscriptionVersion)
      throw new SubscriptionNotInView(job.subscriptionId, job.subscriptionVersion);
    const attemptedAt = new Date();
    const base = {
      attemptId: newId('attempt'),
      deliveryId: job.deliveryId,
      subscriptionId: job.subscriptionId,
      organizationId: job.organizationId,
      eventId: job.event.id,
      eventType: job.event.type,
      attempt: job.attempt,
      gone: false,
      attemptedAt: attemptedAt.toISOString(),
    };
    // Paused, failed, disabled and deleted subscriptions get nothing, retries included.
    if (subscription.deleted || subscription.status !== 'active') {
      const why = subscription.deleted ? 'deleted' : subscription.status;
      return {
        event: {
          ...base,
          outcome: 'skipped',
          httpStatus: null,
          durationMs: 0,
          error: `subscription ${why}`,
        },
        result: { kind: 'skipped' },
      };
    }

    // A view that has not confirmed lately that it is current may miss a DELETE that has
    // already answered (ADR 0017). Checked last before sending, with no wait in between.
    if (!this.endpoints.isCurrent) throw new ViewNotCurrent();

    // A request that will not be sent is not signed (when a breaker opens, every job queued
    // for its endpoint comes this way at once).
    if (this.breakers.refuses(subscription.id)) return shortCircuited(base);

    const body = serialisePayload(job.event, subscription.format);
    const secrets = signingSecrets(subscription, attemptedAt).map((s) =>
      this.plaintexts.get(`${subscription.id}\u0000${s}`, () =>
        decryptSecret(this.keyring, s, boundTo(subscription.id, 'signing_secret')),
      ),
    );
    const custom = this.customHeaders.get(`${subscription.id}@${subscription.version}`, () => {
      try {
        return openHeaders(this.keyring, subscription.id, subscription.headers);
      } catch (error) {
        throw error instanceof SecretCryptoError ? new HeadersNotDecryptable(error) : error;
      }
    });
    // Signed afresh for every attempt, so a retry hours later passes the receivers' tolerance.
    const timestamp = Math.floor(attemptedAt.getTime() / 1000);
    const headers: Record<string, string> = {
      ...custom,
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': job.deliveryId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandardWebhook({ id: job.deliveryId, timestamp, body, secrets }),
      'x-webhook-signature': signBodyHex(body, secrets[0]!),
    };
    const guarded = await this.breakers.run(
      subscription.id,
      () => this.client.post({ url: subscription.url, headers, body }),
      // Only signs of a sick endpoint open its breaker; a 4xx is an answer, not an outage.
      (r) => r.kind === 'error' || r.status >= 500 || r.status === 429,
    );
    if (guarded.kind === 'open') return shortCircuited(base);
    const response = guarded.value;
    if (response.kind === 'error') {
      return {
        event: {
          ...base,
          outcome: 'failed',
          httpStatus: null,
          durationMs: response.durationMs,
          error: response.error,
        },
        result: { kind: 'failed' },
      };
    }
    httpDuration.observe(response.durationMs / 1000);
    const ok = response.status >= 200 && response.status < 300;
    const gone = response.status === 410;
    return {
      event: {
        ...base,
        outcome: ok ? 'succeeded' : 'failed',
        httpStatus: response.status,
        durationMs: response.durationMs,
        error: ok
          ? null
          : response.status >= 300 && response.status < 400
            ? `HTTP ${response.status} (redirects are not followed)`
            : `HTTP ${response.status}`,
        responseBody: ok ? null : (response.body ?? null),
        gone,
      },
      result: ok
        ? { kind: 'succeeded' }
        : gone
          ? { kind: 'gone' }
          : { kind: 'failed', status: response.status, retryAfter: response.retryAfter },
    };
  }
}

/** The outcome of a job its endpoint's breaker refused: nothing was sent; it is retried. */
/** The job's subscription, at the job's version, is not in this deliverer's view yet. */
class SubscriptionNotInView extends Error {
  constructor(id: string, version: number) {
    super(`subscription ${id} at version ${version} is not in the view yet`);
  }
}

/** The subscription's custom headers could not be decrypted (its signing secrets could). */
class HeadersNotDecryptable extends Error {
  readonly code: SecretCryptoError['code'];

  constructor(error: SecretCryptoError) {
    super(error.message);
    this.code = error.code;
  }
}

/** This deliverer's view has not confirmed within VIEW_LEASE_MS that it is current. */
class ViewNotCurrent extends Error {
  constructor() {
    super(`the subscription view has not confirmed within ${VIEW_LEASE_MS} ms that it is current`);
  }
}

/** Why a job cannot be attempted now, through nothing its endpoint did; else undefined. */
function cannotAttemptYet(
  error: unknown,
): { reason: string; message: string; counter: Counter } | undefined {
  if (error instanceof SecretCryptoError)
    return {
      reason: `secret not decryptable (${error.code})`,
      message: 'signing secret could not be decrypted; delivery put off',
      counter: unsignable,
    };
  if (error instanceof HeadersNotDecryptable)
    return {
      reason: `custom headers not decryptable (${error.code})`,
      message: 'custom headers could not be decrypted; delivery put off',
      counter: unsignable,
    };
  if (error instanceof SubscriptionNotInView)
    return {
      reason: 'subscription not in view',
      message: 'subscription not in the view yet; delivery put off',
      counter: notInView,
    };
  if (error instanceof ViewNotCurrent)
    return {
      reason: 'view not current',
      message: `${error.message}; delivery put off`,
      counter: notInView,
    };
  return undefined;
}

function shortCircuited(
  base: Omit<AttemptEvent, 'nextRetryAt' | 'outcome' | 'httpStatus' | 'durationMs' | 'error'>,
): {
  event: Omit<AttemptEvent, 'nextRetryAt'>;
  result: AttemptResult;
} {
  return {
    event: {
      ...base,
      outcome: 'short_circuited',
      httpStatus: null,
      durationMs: 0,
      error: 'not sent: the circuit breaker for this endpoint is open',
    },
    result: { kind: 'failed' },
  };
}
