import type { KafkaProducer, OutgoingMessage } from './kafka.js';

/**
 * Gathers the messages of many concurrent callers into few `sendBatch` calls. While a send
 * is on the wire, new messages wait for it and then leave together, so batches grow with
 * the load and an idle producer adds no delay. Each caller's promise settles when the
 * batch holding its messages is acknowledged (or fails).
 */
export class CoalescingProducer {
  private queue: Array<{ messages: OutgoingMessage[]; settle: (error?: unknown) => void }> = [];
  private sending = 0;

  constructor(
    private readonly producer: KafkaProducer,
    private readonly maxConcurrentSends = 2,
  ) {}

  send(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        messages,
        settle: (error) => (error === undefined ? resolve() : reject(error)),
      });
      this.flush();
    });
  }

  private flush(): void {
    if (this.sending >= this.maxConcurrentSends || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sending++;
    this.producer
      .send(batch.flatMap((entry) => entry.messages))
      .then(
        () => batch.forEach((entry) => entry.settle()),
        (error: unknown) =>
          batch.forEach((entry) => entry.settle(error ?? new Error('send failed'))),
      )
      .finally(() => {
        this.sending--;
        this.flush();
      });
  }
}
