import { Fifo } from './fifo.js';

/**
 * A counting semaphore with a FIFO queue: at most `limit` holders at once, the others
 * wait their turn.
 */
export class Limiter {
  private active = 0;
  private readonly waiting = new Fifo<() => void>();

  constructor(private readonly limit: number) {}

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so a newcomer cannot jump the queue.
      if (next) next();
      else this.active--;
    }
  }
}

/** One `Limiter` per key, created on demand and dropped when idle. */
export class KeyedLimiter {
  private readonly limiters = new Map<string, Limiter>();

  constructor(private readonly limitPerKey: number) {}

  get size(): number {
    return this.limiters.size;
  }

  /** Callers of `key` waiting for a slot. */
  queued(key: string): number {
    return this.limiters.get(key)?.queued ?? 0;
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new Limiter(this.limitPerKey);
      this.limiters.set(key, limiter);
    }
    try {
      return await limiter.run(fn);
    } finally {
      if (limiter.idle) this.limiters.delete(key);
    }
  }
}
