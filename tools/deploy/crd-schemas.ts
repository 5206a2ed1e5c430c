/**
 * JSON Schemas for the custom resources the chart can render, which kubernetes-models
 * does not know. They hold what the operators reject or silently ignore when wrong: the
 * required fields and their types, not every optional field of each CRD.
 */
type Schema = Record<string, unknown>;

const nonEmptyString: Schema = { type: 'string', minLength: 1 };
const dnsSubdomain: Schema = {
  type: 'string',
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
};
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const duration: Schema = { type: 'string', pattern: '^([0-9]+(ms|s|m|h))+$' };

function resource(apiVersion: string, kind: string, spec: Schema): Schema {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: apiVersion },
      kind: { const: kind },
      metadata: {
        type: 'object',
        required: ['name'],
        properties: {
          name: dnsSubdomain,
          namespace: nonEmptyString,
          labels: stringMap,
          annotations: stringMap,
        },
      },
      spec,
    },
  };
}

/** keda.sh/v1alpha1 ScaledObject with Kafka triggers (KEDA wants every metadata value as a string). */
const scaledObject = resource('keda.sh/v1alpha1', 'ScaledObject', {
  type: 'object',
  required: ['scaleTargetRef', 'triggers'],
  properties: {
    scaleTargetRef: {
      type: 'object',
      required: ['name'],
      properties: { name: nonEmptyString, apiVersion: nonEmptyString, kind: nonEmptyString },
    },
    pollingInterval: { type: 'integer', minimum: 1 },
    cooldownPeriod: { type: 'integer', minimum: 0 },
    minReplicaCount: { type: 'integer', minimum: 0 },
    maxReplicaCount: { type: 'integer', minimum: 1 },
    triggers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['type', 'metadata'],
        properties: {
          type: nonEmptyString,
          metadata: stringMap,
          authenticationRef: {
            type: 'object',
            required: ['name'],
            properties: { name: nonEmptyString },
          },
        },
        if: { properties: { type: { const: 'kafka' } } },
        then: {
          properties: {
            metadata: {
              required: ['bootstrapServers', 'consumerGroup', 'lagThreshold'],
              properties: {
                bootstrapServers: {
                  type: 'string',
                  pattern: '^[^\\s,:]+:[0-9]+(,[^\\s,:]+:[0-9]+)*$',
                },
                consumerGroup: nonEmptyString,
                topic: nonEmptyString,
                lagThreshold: { type: 'string', pattern: '^[1-9][0-9]*$' },
                activationLagThreshold: { type: 'string', pattern: '^[0-9]+$' },
                offsetResetPolicy: { enum: ['earliest', 'latest'] },
              },
            },
          },
        },
      },
    },
  },
});

/** monitoring.coreos.com/v1 ServiceMonitor. */
const serviceMonitor = resource('monitoring.coreos.com/v1', 'ServiceMonitor', {
  type: 'object',
  required: ['selector', 'endpoints'],
  properties: {
    selector: {
      type: 'object',
      properties: { matchLabels: stringMap },
    },
    namespaceSelector: {
      type: 'object',
      properties: {
        matchNames: { type: 'array', items: nonEmptyString },
        any: { type: 'boolean' },
      },
    },
    endpoints: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['port'],
        properties: {
          port: nonEmptyString,
          path: { type: 'string', pattern: '^/' },
          interval: duration,
          scrapeTimeout: duration,
        },
      },
    },
  },
});

/** monitoring.coreos.com/v1 PrometheusRule. */
const prometheusRule = resource('monitoring.coreos.com/v1', 'PrometheusRule', {
  type: 'object',
  required: ['groups'],
  properties: {
    groups: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'rules'],
        properties: {
          name: nonEmptyString,
          rules: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['expr'],
              oneOf: [{ required: ['alert'] }, { required: ['record'] }],
              properties: {
                alert: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                record: nonEmptyString,
                expr: nonEmptyString,
                for: duration,
                labels: stringMap,
                annotations: stringMap,
              },
            },
          },
        },
      },
    },
  },
});

/** kafka.strimzi.io/v1beta2 KafkaTopic: the Topic Operator needs the cluster label. */
const kafkaTopic = {
  ...resource('kafka.strimzi.io/v1beta2', 'KafkaTopic', {
    type: 'object',
    required: ['partitions', 'replicas'],
    properties: {
      topicName: { type: 'string', pattern: '^[a-zA-Z0-9._-]{1,249}$' },
      partitions: { type: 'integer', minimum: 1 },
      replicas: { type: 'integer', minimum: 1, maximum: 32767 },
      config: {
        type: 'object',
        additionalProperties: { type: ['string', 'number', 'boolean'] },
      },
    },
  }),
};
(kafkaTopic.properties as Record<string, Schema>).metadata = {
  type: 'object',
  required: ['name', 'labels'],
  properties: {
    name: dnsSubdomain,
    labels: { ...stringMap, required: ['strimzi.io/cluster'] },
  },
};

/** Schemas by `apiVersion kind`. */
export const CRD_SCHEMAS: Record<string, Schema> = {
  'keda.sh/v1alpha1 ScaledObject': scaledObject,
  'monitoring.coreos.com/v1 ServiceMonitor': serviceMonitor,
  'monitoring.coreos.com/v1 PrometheusRule': prometheusRule,
  'kafka.strimzi.io/v1beta2 KafkaTopic': kafkaTopic,
};
