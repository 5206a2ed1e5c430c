import { register } from 'prom-client';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { IncomingMessage } from './kafka.js';
import { decodeOrPassOver } from './passed-over.js';

const schema = z.object({ id: z.string(), attempt: z.number().int().positive() });

function message(topic: string, value: string | null): IncomingMessage {
  return {
    topic,
    partition: 2,
    offset: '41',
    key: null,
    value: value === null ? null : Buffer.from(value),
    headers: {},
    timestamp: 0,
  };
}

function recordingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

async function passedOver(topic: string): Promise<number> {
  const text = await register.getSingleMetricAsString('hookpost_kafka_passed_over_total');
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith(`hookpost_kafka_passed_over_total{topic="${topic}",reason="undecodable"}`),
    );
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('decodeOrPassOver', () => {
  it('hands back a value that matches the schema, counting nothing', async () => {
    const { logger, lines } = recordingLogger();
    const value = decodeOrPassOver(
      schema,
      message('t.ok', '{"id":"a","attempt":1}'),
      logger,
      'job',
    );
    expect(value).toEqual({ id: 'a', attempt: 1 });
    expect(await passedOver('t.ok')).toBe(0);
    expect(lines).toEqual([]);
  });

  it('counts what it passes over by topic, and logs where it was and why, not what it held', async () => {
    const { logger, lines } = recordingLogger();
    const bad = [
      message('t.bad', null),
      message('t.bad', 'to: jane.doe@example.com'),
      message('t.bad', '{"id":"a","attempt":0}'),
      message('t.other', '{"id":7,"attempt":1}'),
    ];
    for (const m of bad) expect(decodeOrPassOver(schema, m, logger, 'job')).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await passedOver('t.bad')).toBe(3);
    expect(await passedOver('t.other')).toBe(1);
    expect(
      lines.map((l) => [l['level'], l['msg'], l['topic'], l['partition'], l['offset']]),
    ).toEqual(bad.map((m) => [50, 'undecodable job', m.topic, 2, '41']));
    expect(lines.map((l) => l['reason'])).toEqual([
      'empty message',
      expect.stringMatching(/^not valid JSON: Unexpected token 'o'/),
      expect.stringMatching(/^attempt: /),
      expect.stringMatching(/^id: /),
    ]);
    expect(JSON.stringify(lines)).not.toContain('jane.doe');
  });
});
