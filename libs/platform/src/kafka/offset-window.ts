import { Fifo } from '../concurrency/fifo.js';

/**
 * The offsets of one partition that were handed out for work, in order. Work finishes in
 * any order, but the partition may only be committed below the lowest unfinished offset:
 * a crash then repeats what was in flight, and never skips it.
 */
export class OffsetWindow {
  /** Handed out, from the lowest not yet finished on. */
  private readonly offsets = new Fifo<bigint>();
  private readonly done = new Set<bigint>();
  /** One past the last offset that was handed out. */
  private next: bigint | undefined;
  private readonly waiters: Array<() => void> = [];

  /** Offsets handed out and not finished yet. */
  get inFlight(): number {
    return this.offsets.length - this.done.size;
  }

  /** Records that work on `offset` started. Offsets must be added in increasing order. */
  add(offset: bigint): void {
    this.offsets.push(offset);
    this.next = offset + 1n;
  }

  finish(offset: bigint): void {
    this.done.add(offset);
    // Drop the finished prefix: its offsets are below every unfinished one.
    let first = this.offsets.peek();
    while (first !== undefined && this.done.delete(first)) {
      this.offsets.shift();
      first = this.offsets.peek();
    }
    this.waiters.splice(0).forEach((wake) => wake());
  }

  /**
   * The offset to commit: the lowest unfinished one, or one past the last handed out when
   * everything is finished; undefined before anything was handed out.
   */
  commitPoint(): bigint | undefined {
    return this.offsets.peek() ?? this.next;
  }

  /** Resolves on the next `finish`, or after `ms`, whichever comes first. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
