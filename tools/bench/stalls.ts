import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** A service's event loop turning late, or a collection pausing it (`stall-hook.ts`). */
export interface Stall {
  service: string;
  /** `late`, or `gc minor`, `gc major`, `gc incremental` (marking), `gc weak callbacks`. */
  kind: string;
  /** Seconds from the start of the run it fell in. */
  at_s: number;
  ms: number;
  /** For a collection: the heap in use soon after it, and the memory V8 counts outside it. */
  heap_used_mb?: number;
  external_mb?: number;
}

/** Every stall the services recorded into `dir`, with its wall time in ms. */
export function readStalls(dir: string): Array<Omit<Stall, 'at_s'> & { at: number }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jsonl'))
    .flatMap((name) =>
      readFileSync(`${dir}/${name}`, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => ({
          service: name.replace(/\.jsonl$/, ''),
          ...(JSON.parse(line) as Omit<Stall, 'service' | 'at_s'> & { at: number }),
        })),
    );
}

/** The stalls that began within a run, in order, timed from its start. */
export function stallsIn(
  all: ReturnType<typeof readStalls>,
  run: { started_at: string; seconds: number },
): Stall[] {
  const start = Date.parse(run.started_at);
  return all
    .filter((s) => s.at >= start && s.at < start + run.seconds * 1_000)
    .sort((a, b) => a.at - b.at)
    .map(({ at, ...s }) => ({ ...s, at_s: Math.round(at - start) / 1_000 }));
}

/** One line for the table: how many, and the longest three, by service and second. */
export function formatStalls(stalls: Stall[]): string {
  const longest = [...stalls].sort((a, b) => b.ms - a.ms).slice(0, 3);
  return `${stalls.length}; longest ${longest.map((s) => `${s.service} ${s.kind} ${s.ms} ms at ${s.at_s} s`).join(', ') || 'none'}`;
}
