import { encodeJson, retryTopic, type DeliveryJob } from '@hookpost/contracts';
import {
  boundTo,
  encryptSecret,
  parseKeyring,
  sealHeaders,
  type Keyring,
  type Subscription,
} from '@hookpost/domain';
import {
  Tracing,
  type IncomingMessage,
  type KafkaProducer,
  type Logger,
  type OutgoingMessage,
} from '@hookpost/platform';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DelivererConfig } from '../config.js';
import type { EndpointView } from '../endpoints/endpoint-view.js';
import type { WebhookClient, WebhookRequest } from '../http/webhook-client.js';
import type { EndpointBreakers } from './breakers.js';
import { DeliveryService } from './delivery.service.js';

const SCHEDULE = [60, 300];

/** Fails the test if a path that should not look at the endpoint does. */
const untouchable = <T>(what: string): T =>
  new Proxy({} as object, {
    get: (_, property) => {
      throw new Error(`${what}.${String(property)} was used`);
    },
  }) as T;

/** A producer that keeps what it is asked to send in `sent`. */
const recording = (sent: OutgoingMessage[]) =>
  ({
    send: (messages: OutgoingMessage[]) => {
      sent.push(...messages);
      return Promise.resolve();
    },
  }) as unknown as KafkaProducer;

/** A service whose sends are recorded, and which reaches no endpoint, view or breaker. */
function service(): { deliveries: DeliveryService; sent: OutgoingMessage[] } {
  const sent: OutgoingMessage[] = [];
  const producer = recording(sent);
  const deliveries = new DeliveryService(
    untouchable<EndpointView>('endpoints'),
    untouchable<WebhookClient>('client'),
    untouchable<EndpointBreakers>('breakers'),
    producer,
    untouchable<Keyring>('keyring'),
    {
      RETRY_SCHEDULE: SCHEDULE,
      DELIVERY_CONCURRENCY: 4,
      ENDPOINT_CONCURRENCY: 2,
    } as DelivererConfig,
    pino({ level: 'silent' }) as unknown as Logger,
    Tracing.create('deliverer-test', undefined),
  );
  return { deliveries, sent };
}

/** A retry whose endpoint asked (Retry-After) for longer than the longest delay. */
function waitingJob(): IncomingMessage {
  const now = Date.now();
  const job: DeliveryJob = {
    deliveryId: 'dlv_1',
    subscriptionId: 'sub_1',
    organizationId: 'org_1',
    subscriptionVersion: 1,
    attempt: 2,
    notBefore: new Date(now - 1_000).toISOString(),
    retryAfter: new Date(now + 3_600_000).toISOString(),
    event: {
      id: 'evt_waiting01',
      type: 'message.delivered',
      organization_id: 'org_1',
      occurred_at: new Date(now - 60_000).toISOString(),
      received_at: new Date(now - 60_000).toISOString(),
      data: {},
      source: { format: 'test' },
    },
  };
  return {
    topic: retryTopic(300),
    partition: 0,
    offset: '7',
    key: Buffer.from(job.subscriptionId),
    value: encodeJson(job),
    headers: {},
    timestamp: now,
  };
}

describe('DeliveryService, a job still waiting on its Retry-After', () => {
  it('waits on, unattempted, on the longest delay', async () => {
    const { deliveries, sent } = service();
    await deliveries.dispatch(waitingJob(), 0, { live: true });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topic).toBe(retryTopic(300));
    const later = JSON.parse(sent[0]!.value.toString()) as DeliveryJob;
    expect(later).toMatchObject({ deliveryId: 'dlv_1', attempt: 2 });
    expect(later.retryAfter).toBeDefined();
    expect(Date.parse(later.notBefore!)).toBeGreaterThan(Date.now() + 290_000);
  });

  it('is not sent on once its lease lapsed: the repeat from the last commit sends it', async () => {
    const { deliveries, sent } = service();
    await deliveries.dispatch(waitingJob(), 0, { live: false });
    expect(sent).toEqual([]);
  });
});

const keyring = parseKeyring(`k1:${randomBytes(32).toString('base64')}`);
const custom = { Authorization: 'Bearer tok_receiver', 'X-Team': 'mail' };

function subscription(version: number, headers = sealHeaders(keyring, 'wh_1', custom)) {
  return {
    id: 'wh_1',
    organizationId: 'org_1',
    url: 'https://receiver.example/hook',
    events: ['*'],
    scope: { domains: [], mailboxes: [] },
    headers,
    format: 'standard',
    description: null,
    status: 'active',
    secret: encryptSecret(keyring, 'whsec_c2VjcmV0', boundTo('wh_1', 'signing_secret')),
    previousSecret: null,
    version,
    createdAt: '2026-03-01T12:00:00.000Z',
    updatedAt: '2026-03-01T12:00:00.000Z',
    deleted: false,
  } satisfies Subscription;
}

/** A service whose view holds `current`, whose endpoint answers 200, and which counts decryptions. */
function sending(current: { subscription: Subscription }) {
  const posted: WebhookRequest[] = [];
  const sent: OutgoingMessage[] = [];
  const decryptions = { count: 0 };
  const counted: Keyring = {
    currentKeyId: keyring.currentKeyId,
    keys: {
      get: (id: string) => {
        decryptions.count++;
        return keyring.keys.get(id);
      },
    } as Keyring['keys'],
  };
  const view = {
    isCurrent: true,
    current: () => current.subscription,
    atLeast: () => Promise.resolve(current.subscription),
  } as unknown as EndpointView;
  const breakers = {
    follow: () => undefined,
    answerMs: () => 0,
    typicalAnswerMs: () => 0,
    refuses: () => false,
    run: async (_: string, send: () => Promise<unknown>) => ({
      kind: 'sent',
      value: await send(),
    }),
  } as unknown as EndpointBreakers;
  const client = {
    post: (request: WebhookRequest) => {
      posted.push(request);
      return Promise.resolve({
        kind: 'response',
        status: 200,
        retryAfter: undefined,
        durationMs: 1,
      });
    },
  } as unknown as WebhookClient;
  const producer = recording(sent);
  const deliveries = new DeliveryService(
    view,
    client,
    breakers,
    producer,
    counted,
    {
      RETRY_SCHEDULE: SCHEDULE,
      DELIVERY_CONCURRENCY: 4,
      ENDPOINT_CONCURRENCY: 2,
      ENDPOINT_QUEUE_LIMIT: 100,
    } as DelivererConfig,
    pino({ level: 'silent' }) as unknown as Logger,
    Tracing.create('deliverer-test', undefined),
  );
  return { deliveries, posted, sent, decryptions };
}

function job(n: number, version: number): IncomingMessage {
  const at = new Date().toISOString();
  const value: DeliveryJob = {
    deliveryId: `dlv_${n}`,
    subscriptionId: 'wh_1',
    organizationId: 'org_1',
    subscriptionVersion: version,
    attempt: 1,
    event: {
      id: `evt_headers0${n}`,
      type: 'message.delivered',
      organization_id: 'org_1',
      occurred_at: at,
      received_at: at,
      data: {},
      source: { format: 'test' },
    },
  };
  return {
    topic: 'hookpost.delivery-jobs.v1',
    partition: 0,
    offset: String(n),
    key: Buffer.from('wh_1'),
    value: encodeJson(value),
    headers: {},
    timestamp: Date.now(),
  };
}

describe('DeliveryService, custom headers', () => {
  it('sends them as they were set, decrypted once per version of the subscription', async () => {
    const current = { subscription: subscription(1) };
    const { deliveries, posted, decryptions } = sending(current);
    await deliveries.dispatch(job(1, 1), 1, { live: true });
    await deliveries.dispatch(job(2, 1), 1, { live: true });
    expect(posted.map((p) => p.headers)).toEqual([
      expect.objectContaining(custom),
      expect.objectContaining(custom),
    ]);
    // The signing secret once, the headers once.
    expect(decryptions.count).toBe(2);
    current.subscription = subscription(2, sealHeaders(keyring, 'wh_1', { 'X-Team': 'post' }));
    await deliveries.dispatch(job(3, 2), 1, { live: true });
    expect(posted[2]!.headers).toMatchObject({ 'X-Team': 'post' });
    expect(posted[2]!.headers).not.toHaveProperty('Authorization');
  });

  it('sends headers stored before they were encrypted as they are', async () => {
    const { deliveries, posted } = sending({ subscription: subscription(1, custom) });
    await deliveries.dispatch(job(1, 1), 1, { live: true });
    expect(posted[0]!.headers).toMatchObject(custom);
  });

  it('puts off, unattempted, a job whose headers do not decrypt', async () => {
    // Sealed for another subscription, then copied here.
    const moved = sealHeaders(keyring, 'wh_2', custom);
    const { deliveries, posted, sent } = sending({ subscription: subscription(1, moved) });
    await deliveries.dispatch(job(1, 1), 1, { live: true });
    expect(posted).toEqual([]);
    expect(sent.map((m) => m.topic)).toEqual([retryTopic(SCHEDULE[0]!)]);
  });
});

describe('DeliveryService, a subscription with a rate limit', () => {
  const limited = (rateLimit: number) => ({ subscription: { ...subscription(1), rateLimit } });

  it('sends a job whose turn comes while its lease holds', async () => {
    const { deliveries, posted } = sending(limited(2));
    const first = deliveries.dispatch(job(1, 1), 1, { live: true });
    const second = deliveries.dispatch(job(2, 1), 1, { live: true });
    await Promise.all([first, second]);
    expect(posted).toHaveLength(2);
  });

  it('does not send a job whose lease lapsed while it waited its turn, nor put it off', async () => {
    const { deliveries, posted, sent } = sending(limited(2));
    const first = deliveries.dispatch(job(1, 1), 1, { live: true });
    // Half a second to wait for its turn; a rebalance takes its partition meanwhile.
    const lease = { live: true };
    const second = deliveries.dispatch(job(2, 1), 1, lease);
    setTimeout(() => (lease.live = false), 100);
    await Promise.all([first, second]);
    expect(posted.map((p) => JSON.parse(p.body.toString()) as { id: string })).toEqual([
      expect.objectContaining({ id: 'evt_headers01' }),
    ]);
    // Nothing of the second goes to Kafka either: its repeat from the last commit is its
    // only copy. (The first's attempt event is all there is.)
    expect(sent.filter((m) => m.value.toString().includes('dlv_2'))).toEqual([]);
  });
});
