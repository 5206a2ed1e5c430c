import { configProblems } from '@hookpost/platform';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const required = { KAFKA_BROKERS: '127.0.0.1:9092', NODE_ENV: 'development' };

const problems = (env: Record<string, string>) => configProblems(configSchema, env);

describe('deliverer configuration', () => {
  it('takes the allowed networks as CIDRs or bare addresses', () => {
    expect(
      problems({ ...required, ENDPOINT_ALLOWED_NETWORKS: '127.0.0.0/8, ::1/128,10.1.2.3' }),
    ).toEqual([]);
  });

  it('refuses a bad allowed network by name, with the other bad settings', () => {
    expect(
      problems({
        ...required,
        RETRY_SCHEDULE: 'soon',
        ENDPOINT_ALLOWED_NETWORKS: '127.0.0.0/8,10.0.0.0/33',
      }),
    ).toEqual([
      expect.stringMatching(/^RETRY_SCHEDULE: /),
      'ENDPOINT_ALLOWED_NETWORKS: "10.0.0.0/33" is not a CIDR such as 127.0.0.1/32',
    ]);
  });
});
