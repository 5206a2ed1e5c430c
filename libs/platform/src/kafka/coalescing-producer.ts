import { Coalescer } from '../concurrency/coalescer.js';
import type { KafkaProducer, OutgoingMessage } from './kafka.js';

/**
 * Gathers the messages of many concurrent callers into few `sendBatch` calls (see
 * Coalescer). Each caller's promise settles when the batch holding its messages is
 * acknowledged (or fails).
 */
export class CoalescingProducer {
  private readonly coalescer: Coalescer<OutgoingMessage>;

  constructor(producer: KafkaProducer, maxConcurrentSends = 2) {
    this.coalescer = new Coalescer((messages) => producer.send(messages), maxConcurrentSends);
  }

  async send(messages: OutgoingMessage[]): Promise<void> {
    await this.coalescer.run(messages);
  }
}
