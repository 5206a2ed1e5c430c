import { REPO_ROOT, type ServiceName } from '@hookpost/testing';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Every service refuses to start on bad settings, and names each bad variable. */
describe('configuration', () => {
  const services: ServiceName[] = ['subscription-api', 'event-ingest', 'matcher', 'deliverer'];

  it.each(services)('%s exits naming the bad variables', (service) => {
    const result = spawnSync(process.execPath, [`${REPO_ROOT}apps/${service}/dist/main.js`], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        KAFKA_BROKERS: 'not-a-broker',
        PORT: 'eighty',
        RETRY_SCHEDULE: 'soon',
        DATABASE_URL: 'mysql://nope',
        ADMIN_TOKEN: 'short',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(78);
    const problems = JSON.parse(result.stderr.trim().split('\n').pop()!) as {
      problems: string[];
      message: string;
    };
    const named = problems.problems.map((p) => p.split(':')[0]);
    expect(named).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'PORT']));
    if (service === 'subscription-api') {
      expect(named).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'ADMIN_TOKEN', 'SECRET_ENCRYPTION_KEY']),
      );
    }
    if (service === 'deliverer')
      expect(named).toEqual(expect.arrayContaining(['RETRY_SCHEDULE', 'SECRET_ENCRYPTION_KEY']));
    // Values are never echoed: they may be secrets.
    expect(result.stderr).not.toContain('short');
  });
});
