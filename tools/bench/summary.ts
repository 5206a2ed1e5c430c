import type { Arrival } from './receiver.ts';
import { percentile, round } from './stats.ts';

/** Steps are judged after this much of them (the pipeline settling to the new rate). */
const SETTLE_SECONDS = 2;

/** A scenario's events (sequence numbers from `first` up to, not including, `last`) and when it ran. */
export interface Window {
  first: number;
  last: number;
  startedAt: number;
  endedAt: number;
}

export interface Ledger {
  produced: number;
  delivered: number;
  duplicates: number;
  missing: number;
}

/** The first successful arrival of each expected event in `window`, by sequence number. */
export function firstArrivals(
  arrivals: Arrival[],
  window: Window,
  expected: (seq: number) => boolean,
): Map<number, { t0: number; t3: number }> {
  const times = new Map<number, { t0: number; t3: number }>();
  for (const a of arrivals) {
    // A job put off in an earlier scenario can arrive during this one: it is not this one's.
    if (a.seq < window.first || a.seq >= window.last) continue;
    if (a.status === 200 && expected(a.seq) && !times.has(a.seq)) times.set(a.seq, a);
  }
  return times;
}

export type SlowestSeconds = Array<{ second: number; p99_ms: number }>;

/**
 * The three seconds of a run (counted from its start, by scheduled time) whose deliveries
 * had the highest p99, with that p99: whether a tail is spread or comes at one moment.
 */
export function slowestSeconds(
  times: Map<number, { t0: number; t3: number }>,
  startedAt: number,
): SlowestSeconds {
  const bySecond = new Map<number, number[]>();
  for (const { t0, t3 } of times.values()) {
    const second = Math.floor((t0 - startedAt) / 1_000);
    const latencies = bySecond.get(second) ?? [];
    latencies.push(t3 - t0);
    bySecond.set(second, latencies);
  }
  return [...bySecond]
    .map(([second, latencies]) => ({
      second,
      p99_ms: round(
        percentile(
          latencies.sort((x, y) => x - y),
          99,
        ),
      ),
    }))
    .sort((a, b) => b.p99_ms - a.p99_ms)
    .slice(0, 3);
}

export function formatSlowest(seconds: SlowestSeconds): string {
  return seconds.map(({ second, p99_ms }) => `${p99_ms} ms at ${second} s`).join(', ');
}

/** Latency and ledger of the expected events in `window`. */
export function summarise(arrivals: Arrival[], window: Window, expected: (seq: number) => boolean) {
  const first = new Map<number, Arrival>();
  let duplicates = 0;
  for (const a of arrivals) {
    if (a.seq < window.first || a.seq >= window.last || !expected(a.seq)) continue;
    if (a.status !== 200) continue;
    if (first.has(a.seq)) duplicates++;
    else first.set(a.seq, a);
  }
  let produced = 0;
  for (let seq = window.first; seq < window.last; seq++) if (expected(seq)) produced++;
  const latencies = [...first.values()].map((a) => a.t3 - a.t0).sort((x, y) => x - y);
  const judgedFrom = window.startedAt + SETTLE_SECONDS * 1_000;
  const inWindow = [...first.values()].filter(
    (a) => a.t3 >= judgedFrom && a.t3 <= window.endedAt,
  ).length;
  const ledger: Ledger = {
    produced,
    delivered: first.size,
    duplicates,
    missing: produced - first.size,
  };
  return {
    ledger,
    deliveriesPerS: inWindow / ((window.endedAt - judgedFrom) / 1_000),
    /** Still undelivered when the load stopped. */
    backlogAtEnd: produced - [...first.values()].filter((a) => a.t3 <= window.endedAt).length,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      p999: round(percentile(latencies, 99.9)),
      max: round(latencies.at(-1) ?? NaN),
    },
  };
}
