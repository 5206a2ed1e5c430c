import { appendFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * Preloaded into each service by `npm run bench:pipeline -- --stalls` (`node --import`):
 * appends to `$HOOKPOST_STALLS/<service>.jsonl` each moment its event loop turned late by
 * LATE_MS or more, and each garbage-collection pause of PAUSE_MS or more, with the wall
 * time it began. A second in which every healthy delivery is late needs a cause in time,
 * which the per-run figures (event-loop utilisation, the collections' share) average away.
 * A late turn is the main thread busy or waiting for a core: the two are not told apart.
 */
const LATE_MS = 20;
const PAUSE_MS = 10;
/** A timer this often: late turns are measured against it. */
const TICK_MS = 10;

/** Which kind of collection paused, by its `detail.kind`. */
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

const dir = process.env.HOOKPOST_STALLS;
const service = /apps\/([^/]+)\/dist/.exec(process.argv[1] ?? '')?.[1];

if (dir && service) {
  const file = `${dir}/${service}.jsonl`;
  const record = (kind: string, startedAt: number, ms: number, extra = {}) =>
    appendFileSync(
      file,
      `${JSON.stringify({ kind, at: startedAt, ms: Math.round(ms * 10) / 10, ...extra })}\n`,
    );
  const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration < PAUSE_MS) continue;
      // The heap in use soon after (when the pause is reported), and the memory outside it
      // (Buffers) that V8 counts towards its next full collection.
      const heap = getHeapStatistics();
      record(
        `gc ${GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other'}`,
        performance.timeOrigin + entry.startTime,
        entry.duration,
        { heap_used_mb: mb(heap.used_heap_size), external_mb: mb(heap.external_memory) },
      );
    }
  }).observe({ entryTypes: ['gc'] });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    if (late >= LATE_MS) record('late', performance.timeOrigin + last + TICK_MS, late);
    last = now;
  }, TICK_MS).unref();
}
