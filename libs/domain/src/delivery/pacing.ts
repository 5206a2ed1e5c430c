/**
 * How often a sweep may drop the turns of endpoints gone quiet: a sweep walks every entry,
 * so it is not done on every reservation.
 */
const SWEEP_INTERVAL_MS = 1_000;

/**
 * Spaces the requests to each rate-limited endpoint evenly: at a limit of `n` a second, a
 * request starts `1000 / n` ms after the one before it, whatever arrives at once. Even
 * spacing, not a bucket that lets a second's worth go together: a receiver that asked for
 * a limit is protected from bursts too (ADR 0021). Times are ms on any one clock.
 */
export class Pacer {
  /** When each endpoint's next request may start, for those with turns reserved ahead. */
  private readonly nextAt = new Map<string, number>();
  private sweptAt = 0;

  /** Reserves `key`'s next turn at `perSecond`; returns how long to wait for it, in ms. */
  reserve(key: string, perSecond: number, now: number): number {
    const at = Math.max(now, this.nextAt.get(key) ?? now);
    this.nextAt.set(key, at + 1_000 / perSecond);
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) this.sweep(now);
    return at - now;
  }

  /** How long the turns already reserved for `key` last from `now`, in ms. */
  reservedMs(key: string, now: number): number {
    return Math.max(0, (this.nextAt.get(key) ?? now) - now);
  }

  /** Endpoints whose next turn is already free need no entry. */
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, at] of this.nextAt) if (at <= now) this.nextAt.delete(key);
  }
}
