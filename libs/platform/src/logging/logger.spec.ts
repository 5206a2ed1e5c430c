import { Writable } from 'node:stream';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

const TOKEN = 'Bearer sk_live_4f9a8b7c6d5e';
const EMAIL = 'jane.doe@example.com';

function recordingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('test', 'info', sink), lines };
}

/** What a failed append throws: TypeORM's error around the pg driver's. */
function failedAppend(): QueryFailedError {
  const state = JSON.stringify({
    url: 'https://hooks.example.com/mail',
    headers: { Authorization: TOKEN },
    owner: EMAIL,
  });
  const driverError = Object.assign(
    new DatabaseError('duplicate key value violates unique constraint "events_pkey"', 230, 'error'),
    {
      severity: 'ERROR',
      code: '23505',
      detail: `Key (id)=(${EMAIL}) already exists.`,
      where: `SQL statement "INSERT INTO events VALUES ('${TOKEN}')"`,
      schema: 'public',
      table: 'events',
      constraint: 'events_pkey',
      routine: '_bt_check_unique',
    },
  );
  return new QueryFailedError(
    `INSERT INTO events (id, state, note) VALUES ($1, $2, '${TOKEN}')`,
    [EMAIL, state],
    driverError,
  );
}

describe('logged errors', () => {
  it('keep what an operator needs and none of the values a query failed with', () => {
    const { logger, lines } = recordingLogger();
    const error = failedAppend();
    logger.error({ err: error }, 'unhandled error');
    logger.warn({ error }, 'append failed');
    logger.error(error);
    logger.error({ err: new Error('could not save the subscription', { cause: error }) }, 'x');
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).not.toContain('sk_live');
      expect(line).not.toContain(EMAIL);
    }

    const [first, second, third, fourth] = lines.map((line) => JSON.parse(line));
    const logged = {
      type: 'QueryFailedError',
      message: 'duplicate key value violates unique constraint "events_pkey"',
      code: '23505',
      severity: 'ERROR',
      table: 'events',
      constraint: 'events_pkey',
      routine: '_bt_check_unique',
      query: "INSERT INTO events (id, state, note) VALUES ($1, $2, '[redacted]')",
    };
    expect(first.err).toMatchObject(logged);
    expect(first.err.stack).toContain('QueryFailedError');
    expect(second.error).toMatchObject(logged);
    expect(third.err).toMatchObject(logged);
    expect(fourth.err).toMatchObject({
      type: 'Error',
      message: 'could not save the subscription',
      cause: logged,
    });
    for (const field of ['parameters', 'driverError', 'detail', 'where'])
      expect(first.err).not.toHaveProperty(field);
  });

  it('leave a value that is not an error as it is', () => {
    const { logger, lines } = recordingLogger();
    logger.warn({ error: 'broker not reachable' }, 'could not read the topic');
    expect(JSON.parse(lines[0]!)).toMatchObject({ error: 'broker not reachable' });
  });
});
