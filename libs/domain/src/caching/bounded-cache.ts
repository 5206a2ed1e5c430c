/**
 * Values that are costly to compute and asked for again and again (a subscription's
 * signing key, its checked URL), kept for the next time. Bounded: when full, it starts
 * over. Far cheaper than an LRU's bookkeeping, and a working set that outgrows it only
 * means recomputing what is asked for next.
 */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity = 10_000) {}

  get(key: string, compute: () => V): V {
    let value = this.entries.get(key);
    if (value === undefined) {
      value = compute();
      if (this.entries.size >= this.capacity) this.entries.clear();
      this.entries.set(key, value);
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
