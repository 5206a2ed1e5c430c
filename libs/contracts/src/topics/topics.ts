/**
 * Every Kafka topic and consumer group Hookpost uses, in one place. Names carry a
 * version: a breaking change to a message gets a new topic, old events are never edited.
 */
export const TOPICS = {
  /** Raw mail events from the mail servers; the one topic named by the contract with users. */
  mailEvents: 'mail-events',
  /** Raw messages event-ingest refused, unchanged, with the reason in headers. */
  mailEventsDeadLetter: 'hookpost.mail-events.dlq.v1',
  /** Validated, normalised events (CanonicalEvent), keyed by message id. */
  canonicalEvents: 'hookpost.events.v1',
  /** Organisation changes (names, registered sending domains), keyed by organisation id. */
  organizationEvents: 'hookpost.organization-events.v1',
  /** Subscription and organisation changes from the event store (via the outbox). */
  subscriptionEvents: 'hookpost.subscription-events.v1',
  /**
   * The current state of every subscription (SubscriptionState), keyed by subscription id,
   * compacted: views load it in time proportional to the subscriptions that exist, not to
   * every change ever made. A deleted subscription stays, as a state marked deleted
   * (ADR 0003), so that a view never mistakes it for one it has not heard of yet.
   */
  subscriptionState: 'hookpost.subscription-state.v1',
  /** One job per (event, matching subscription), keyed by subscription id. */
  deliveryJobs: 'hookpost.delivery-jobs.v1',
  /** Every delivery attempt's outcome, keyed by subscription id. */
  deliveryAttempts: 'hookpost.delivery-attempts.v1',
  /** Deliveries that exhausted their retries. */
  deliveriesDead: 'hookpost.deliveries.dlq.v1',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

/** One Kafka topic per retry delay, named by the delay in seconds. */
export function retryTopic(delaySeconds: number): string {
  return `hookpost.delivery-retry.${delaySeconds}s.v1`;
}

/** Every retry topic's name, whatever its delay (`retryTopic`). */
export const RETRY_TOPIC_PATTERN = /^hookpost\.delivery-retry\.\d+s\.v1$/;

const DAY_MS = 86_400_000;

/**
 * Retention of the topics the services create themselves, as the chart's KafkaTopics
 * have it. A dead letter is kept 14 days: long enough to notice, look and redeliver.
 */
export const DEAD_LETTER_RETENTION_MS = 14 * DAY_MS;

/**
 * How long past its due time a retry is surely still on its topic: a day, so an outage
 * of the deliverer does not let Kafka delete retries before they are sent.
 */
export const RETRY_KEPT_PAST_DUE_MS = DAY_MS;

/**
 * A retry topic keeps a message well past its delay (it is read only once due): 7 days,
 * or the delay and `RETRY_KEPT_PAST_DUE_MS` when that is longer.
 */
export function retryTopicRetentionMs(delaySeconds: number): number {
  return Math.max(7 * DAY_MS, delaySeconds * 1_000 + RETRY_KEPT_PAST_DUE_MS);
}

export const CONSUMER_GROUPS = {
  eventIngest: 'hookpost-event-ingest',
  matcher: 'hookpost-matcher',
  deliverer: 'hookpost-deliverer',
  delivererRetry: 'hookpost-deliverer-retry',
  subscriptionApiAttempts: 'hookpost-subscription-api-attempts',
  subscriptionApiEvents: 'hookpost-subscription-api-events',
} as const;

/**
 * Views that every instance must hold whole (the matcher's index, the deliverer's
 * endpoint table) read the subscription topic with a group of their own per process,
 * so that no instance gets only a share of the partitions.
 */
export function viewConsumerGroup(service: string, instanceId: string): string {
  return `${viewConsumerGroupPrefix(service)}${instanceId}`;
}

/** What every view group of `service` starts with, whatever its instance. */
export function viewConsumerGroupPrefix(service: string): string {
  return `hookpost-${service}-view-`;
}

/**
 * How long a deliverer's view counts as current after it last confirmed that it held
 * everything the subscription-state topic held. A deliverer sends nothing while its view
 * is not current, so a DELETE that waited this long after its change reached Kafka knows
 * that no deliverer can still act on the old state, even one that never acknowledged it
 * (ADR 0017). The deliverer confirms every second.
 */
export const VIEW_LEASE_MS = 5_000;

/** Kafka header names Hookpost reads or writes. */
export const HEADERS = {
  organizationId: 'organization-id',
  rejectReason: 'hookpost-reject-reason',
  rejectDetail: 'hookpost-reject-detail',
  sourceTopic: 'hookpost-source-topic',
  sourcePartition: 'hookpost-source-partition',
  sourceOffset: 'hookpost-source-offset',
  /** On a dead letter whose value was cut to fit the topic: the value's full size. */
  originalBytes: 'hookpost-original-bytes',
  schemaVersion: 'hookpost-schema',
  traceparent: 'traceparent',
} as const;

/**
 * Why event-ingest refused a raw message: the value of the `hookpost-reject-reason` header
 * on the dead-letter topic, for whoever reads it.
 */
export const REJECT_REASONS = [
  'too_large',
  'not_json',
  'unknown_shape',
  'unknown_type',
  'missing_organization',
  'unknown_organization',
  'schema_violation',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
