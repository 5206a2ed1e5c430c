import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HealthModule } from './health.module.js';
import { Readiness } from './readiness.js';

describe('readiness in the metrics', () => {
  it('reports each check and the whole at every scrape', async () => {
    const readiness = new Readiness();
    let kafkaUp = false;
    readiness.register('kafka producer', () => kafkaUp);
    readiness.register('database', () => true);
    new HealthModule(readiness);

    const scrape = () => register.metrics();
    let text = await scrape();
    expect(text).toMatch(/^hookpost_ready 0$/m);
    expect(text).toMatch(/^hookpost_readiness_check\{check="kafka producer"\} 0$/m);
    expect(text).toMatch(/^hookpost_readiness_check\{check="database"\} 1$/m);

    kafkaUp = true;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    text = await scrape();
    expect(text).toMatch(/^hookpost_ready 1$/m);
    expect(text).toMatch(/^hookpost_readiness_check\{check="kafka producer"\} 1$/m);
  });
});
