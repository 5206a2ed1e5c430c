import { configProblems, loadConfig } from '@hookpost/platform';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const required = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  DATABASE_URL: 'postgres://127.0.0.1/hookpost',
  ADMIN_TOKEN: 'a'.repeat(32),
};

const problems = (env: Record<string, string>) => configProblems(configSchema, env);

describe('subscription-api configuration', () => {
  it('takes a keyring of base64 keys', () => {
    const key = `k1:${randomBytes(32).toString('base64')}`;
    expect(loadConfig(configSchema, { ...required, SECRET_ENCRYPTION_KEY: key })).toMatchObject({
      SECRET_ENCRYPTION_KEY: key,
    });
  });

  it.each([
    [
      'a key that is not 32 bytes',
      'k1:c2hvcnQ=',
      /SECRET_ENCRYPTION_KEY: key k1: expected the base64 of exactly 32 bytes/,
    ],
    [
      'two entries, one without an id',
      `k1:${'A'.repeat(43)}=,secret-material`,
      /SECRET_ENCRYPTION_KEY: entry 2/,
    ],
    [
      'a bad key id',
      `k 1:${randomBytes(32).toString('base64')}`,
      /SECRET_ENCRYPTION_KEY: entry 1: key id/,
    ],
  ])('refuses %s by name, without echoing it', (_name, value, message) => {
    expect(() => loadConfig(configSchema, { ...required, SECRET_ENCRYPTION_KEY: value })).toThrow(
      message,
    );
    try {
      loadConfig(configSchema, { ...required, SECRET_ENCRYPTION_KEY: value });
    } catch (error) {
      expect((error as Error).message).not.toContain(value.split(':').pop()!.slice(0, 12));
    }
  });

  it('takes the allowed networks as CIDRs or bare addresses', () => {
    const networks = '127.0.0.0/8, ::1/128,10.1.2.3';
    expect(
      problems({ ...required, NODE_ENV: 'development', ENDPOINT_ALLOWED_NETWORKS: networks }),
    ).toEqual([]);
  });

  it('refuses a bad allowed network by name, with the other bad settings', () => {
    expect(
      problems({
        ...required,
        NODE_ENV: 'development',
        PORT: '70000',
        ENDPOINT_ALLOWED_NETWORKS: '127.0.0.0/8,localhost,::1/129',
      }),
    ).toEqual([
      expect.stringMatching(/^PORT: /),
      'ENDPOINT_ALLOWED_NETWORKS: "localhost", "::1/129" are not CIDRs such as 127.0.0.1/32',
    ]);
  });

  it('requires the keyring outside development', () => {
    expect(() => loadConfig(configSchema, required)).toThrow(/SECRET_ENCRYPTION_KEY: required/);
    expect(() => loadConfig(configSchema, { ...required, NODE_ENV: 'development' })).not.toThrow();
  });
});
