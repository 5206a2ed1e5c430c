import { encodeJson, retryTopic, type DeliveryJob } from '@hookpost/contracts';
import type { Keyring } from '@hookpost/domain';
import {
  Tracing,
  type IncomingMessage,
  type KafkaProducer,
  type Logger,
  type OutgoingMessage,
} from '@hookpost/platform';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DelivererConfig } from '../config.js';
import type { EndpointView } from '../endpoints/endpoint-view.js';
import type { WebhookClient } from '../http/webhook-client.js';
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

/** A service whose sends are recorded, and which reaches no endpoint, view or breaker. */
function service(): { deliveries: DeliveryService; sent: OutgoingMessage[] } {
  const sent: OutgoingMessage[] = [];
  const producer = {
    send: (messages: OutgoingMessage[]) => {
      sent.push(...messages);
      return Promise.resolve();
    },
  } as unknown as KafkaProducer;
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
