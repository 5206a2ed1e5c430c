import { Coalescer } from '../concurrency/coalescer.js';
import type { KafkaProducer, OutgoingMessage } from './kafka.js';

/**
 * Gathers the messages of many concurrent callers into few `sendBatch` calls (see
 * Coalescer). Each caller's promise settles when the batch holding its messages is
 * acknowledged (or fails).
 */
export class CoalescingProducer {
  private readonly coalescer: Coalescer<OutgoingMessage>;

  constructor(
    producer: KafkaProducer,
    {
      maxConcurrentSends = 2,
      lingerMs = 0,
    }: { maxConcurrentSends?: number; lingerMs?: number } = {},
  ) {
    this.coalescer = new Coalescer(
      (messages) => producer.send(messages),
      maxConcurrentSends,
      lingerMs,
    );
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    await this.coalescer.run(messages);
  }
}
