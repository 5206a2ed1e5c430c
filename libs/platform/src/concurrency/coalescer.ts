/**
 * Merges the work of concurrent callers into few calls of `flush`: what callers bring in
 * one turn of the event loop goes together, and while a flush is running, new items
 * wait for it and then go together, so calls grow with the load and an idle caller waits
 * for nothing but the end of its turn. Made for the consumers' round trips (a produce
 * request, a Postgres statement): kafkajs hands each partition's batch of a fetch to its
 * own handler, in one turn, and their round trips cost per call far more than per item.
 *
 * `flush` gets the items of every caller in arrival order and returns one result per
 * item (or nothing); each caller gets the results of its own items, or the error of the
 * flush that held them.
 *
 * `lingerMs` is for work nobody waits on (the deliverer's attempt events): an item that
 * finds nothing waiting waits that long, and what comes meanwhile goes with it, as with
 * a Kafka producer's `linger.ms`; a busy caller then makes a few large flushes a second
 * instead of one per round trip.
 */
export class Coalescer<T, R = void> {
  private queue: Array<{
    items: T[];
    resolve: (results: R[]) => void;
    reject: (error: unknown) => void;
  }> = [];
  private running = 0;
  private lingering: NodeJS.Timeout | undefined;
  private turnEnding = false;

  constructor(
    private readonly flush: (items: T[]) => Promise<R[] | void>,
    private readonly maxConcurrentFlushes = 1,
    private readonly lingerMs = 0,
  ) {}

  run(items: T[]): Promise<R[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<R[]>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      if (this.lingerMs > 0)
        this.lingering ??= setTimeout(() => {
          this.lingering = undefined;
          this.next();
        }, this.lingerMs);
      else if (!this.turnEnding) {
        // Flushing at once sent the first partition's items alone, then the second's,
        // then the rest: three produce requests per fetch where one does.
        this.turnEnding = true;
        setImmediate(() => {
          this.turnEnding = false;
          this.next();
        });
      }
    });
  }

  private next(): void {
    if (this.running >= this.maxConcurrentFlushes || this.queue.length === 0) return;
    const callers = this.queue;
    this.queue = [];
    this.running++;
    const items = callers.length === 1 ? callers[0]!.items : callers.flatMap((c) => c.items);
    // A flush that throws synchronously is a failed flush like any other.
    Promise.resolve()
      .then(() => this.flush(items))
      .then(
        (results) => {
          let at = 0;
          for (const caller of callers) {
            const end = at + caller.items.length;
            caller.resolve(results ? results.slice(at, end) : []);
            at = end;
          }
        },
        (error: unknown) => {
          for (const caller of callers) caller.reject(error ?? new Error('flush failed'));
        },
      )
      .finally(() => {
        this.running--;
        // Items still lingering go when their time is up; the rest have waited enough.
        if (this.lingering === undefined) this.next();
      });
  }
}
