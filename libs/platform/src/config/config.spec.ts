import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, commonConfigShape, envVar, loadConfig, parseDuration } from './config.js';

const schema = z.object({
  ...commonConfigShape,
  PORT: envVar.port(3001),
  OVERLAP: envVar.duration('24h'),
});

describe('loadConfig', () => {
  it('applies defaults and treats empty values as unset', () => {
    const config = loadConfig(schema, { KAFKA_BROKERS: 'a:9092, b:9093', PORT: '' });
    expect(config.PORT).toBe(3001);
    expect(config.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(config.OVERLAP).toBe(86_400_000);
    expect(config.NODE_ENV).toBe('production');
  });

  it('names every bad variable without echoing its value', () => {
    try {
      loadConfig(schema, {
        KAFKA_BROKERS: 'nohost',
        PORT: '70000',
        OVERLAP: 'soon',
        KAFKA_SSL: 'maybe',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of ['KAFKA_BROKERS', 'PORT', 'OVERLAP', 'KAFKA_SSL'])
        expect(message).toContain(name);
      expect(message).not.toContain('soon');
    }
  });

  it('requires the brokers', () => {
    expect(() => loadConfig(schema, {})).toThrow(/KAFKA_BROKERS/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['2s', 2000],
    ['5m', 300_000],
    ['12h', 43_200_000],
    ['250ms', 250],
    ['1d', 86_400_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', '1.5h', '-1s', '2w', 's'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});
