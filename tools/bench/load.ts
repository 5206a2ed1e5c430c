import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import { now } from './clock.ts';
import { round } from './stats.ts';

/** The size of each event the load generator produces. */
export const EVENT_BYTES = 1_024;

/** Where an event goes: the organisation it belongs to and the sending domain it names. */
export interface Target {
  organizationId: string;
  domain: string;
}

/**
 * How long the load generator gathers due events into one produce request: as a Java
 * producer does by default since Kafka 4.0 (linger.ms 5, KIP-1030). The wait counts in
 * the measured latency, since t0 is the time an event was due, not the time it was sent.
 */
const LINGER_MS = 5;

/** Open-model load: events due at a fixed rate, produced in small batches, never waited for. */
export class LoadGenerator {
  private seq = 0;
  private readonly pad = 'x'.repeat(EVENT_BYTES - 420);
  private readonly producer: Producer;

  constructor(producer: Producer) {
    this.producer = producer;
  }

  get next(): number {
    return this.seq;
  }

  async run(rate: number, seconds: number, target: (seq: number) => Target): Promise<void> {
    const total = Math.round(rate * seconds);
    const first = this.seq;
    const start = now();
    const sends = new Set<Promise<unknown>>();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - start) / 1_000) * rate) + 1);
      if (due > sent) {
        const messages = [];
        for (; sent < due; sent++) {
          const seq = first + sent;
          const t0 = start + (sent / rate) * 1_000;
          messages.push(this.event(seq, t0, target(seq)));
        }
        const send = this.producer.send({ topic: 'mail-events', messages });
        sends.add(send);
        void send.finally(() => sends.delete(send));
        // Beyond a few sends in flight the broker is the bottleneck: wait, the events are late.
        if (sends.size >= 16) await Promise.race(sends);
      }
      await sleep(LINGER_MS);
    }
    await Promise.all(sends);
    this.seq = first + total;
  }

  private event(seq: number, t0: number, target: Target): { key: string; value: string } {
    const id = `evt_bench_${seq}`;
    return {
      key: id,
      value: JSON.stringify({
        id,
        type: 'message.delivered',
        organization_id: target.organizationId,
        occurred_at: new Date(t0).toISOString(),
        data: {
          message_id: `<bench-${seq}@${target.domain}>`,
          from: `news@${target.domain}`,
          to: `reader${seq % 1000}@example.org`,
          subject: 'Your weekly digest',
          bench_seq: seq,
          bench_t0: round(t0, 3),
          pad: this.pad,
        },
      }),
    };
  }
}
