import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { forgetLag, reportLag } from './kafka.js';

async function lagSeries(group: string): Promise<Record<string, number>> {
  const metric = await register.getSingleMetric('hookpost_kafka_consumer_lag')!.get();
  return Object.fromEntries(
    metric.values
      .filter((v) => v.labels.group === group)
      .map((v) => [`${v.labels.topic}:${v.labels.partition}`, v.value]),
  );
}

describe('consumer lag', () => {
  it('keeps only the partitions the instance still holds after a rebalance, and none once stopped', async () => {
    const group = `lag-${Date.now()}`;
    reportLag(group, 'events', 0, '100', 40n);
    reportLag(group, 'events', 1, '50', 50n);
    reportLag(group, 'events', 2, '10', 12n);
    expect(await lagSeries(group)).toEqual({ 'events:0': 60, 'events:1': 0, 'events:2': 0 });

    // Partition 0 moved to another instance, which now reports it.
    forgetLag(group, { events: [1, 2] });
    expect(await lagSeries(group)).toEqual({ 'events:1': 0, 'events:2': 0 });

    forgetLag(group);
    expect(await lagSeries(group)).toEqual({});
  });
});
