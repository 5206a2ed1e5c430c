/**
 * How the services' processes are run: by the image (the Dockerfile's ENV and CMD, which
 * tools/deploy/validate.ts checks against these), by startService in the end-to-end tests,
 * and by the local and benchmark runners under tools/. Plain constants, without imports,
 * so that the tools can import this file by path.
 *
 * - A young generation of 8 MB per semi-space: Node's larger default lets resident memory
 *   grow far past the live heap.
 * - A fixed glibc mmap threshold: kafkajs reads fetch responses of up to several MB into
 *   one Buffer each. glibc raises its mmap threshold to the size of the largest chunk
 *   freed, after which such buffers come from the main heap and leave it fragmented
 *   (tens of MB resident that are never returned). Fixed at 128 KiB, large buffers stay
 *   in their own mappings and go back to the system when freed.
 * - Two glibc arenas: by default each thread that allocates (libuv's pool, V8's helpers)
 *   may get an arena of its own, each holding freed memory apart. Two cut the matcher's
 *   peak under load by about 20 MB (bench:matcher) at no measurable cost in rate.
 * - V8's helper threads (garbage collection, compilation) sized to the cores the process
 *   may use (`--v8-pool-size=0`; one on two cores) instead of Node's fixed four: where
 *   several services share a few cores, every collection woke four helpers per process
 *   to compete with the other services' main threads, and the pauses grew while they
 *   waited for a core (docs/performance.md, Done to get here).
 * - No allocation-site pretenuring: when a young collection finds most of one allocation
 *   site's recent objects alive, V8 allocates that site's objects straight in the old
 *   generation from then on, where only a full collection frees them. The deliverer's
 *   objects mostly die young, after a delivery's round trips: with pretenuring it ran a
 *   full collection about every 2 s at 1,000 deliveries/s, without it about every 4, and
 *   in benchmark runs taken in turns it spent about a tenth less CPU per delivery
 *   (docs/performance.md, Done to get here).
 */
export const SERVICE_NODE_FLAGS = [
  '--max-semi-space-size=8',
  '--v8-pool-size=0',
  '--no-allocation-site-pretenuring',
];
export const SERVICE_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2' };

/**
 * Each service's V8 old generation, in MB, as its container in the chart gives it. Node
 * sizes the heap from the container's memory limit, about half of it on 64-bit (Node 24
 * in a memory cgroup of 512 MiB: a heap limit of 259 MB; of 1 GiB: 560 MB), unless the
 * chart states it (the matcher's NODE_OPTIONS). Outside a container (the end-to-end
 * tests, the local and benchmark runners) the same limit is passed as
 * `--max-old-space-size`: on a machine with 24 GiB, V8 would size every heap at 4 GB, let
 * it grow to several times what it holds between full collections, and then collect in a
 * burst, so the benchmark would measure collections production does not have
 * (docs/performance.md). tools/deploy/validate.ts checks these against the chart.
 */
export const SERVICE_OLD_SPACE_MB = {
  'subscription-api': 256,
  'event-ingest': 256,
  matcher: 160,
  deliverer: 512,
} as const;

/** The Node flags a service runs with outside a container. */
export function serviceNodeFlags(name: keyof typeof SERVICE_OLD_SPACE_MB): string[] {
  return [...SERVICE_NODE_FLAGS, `--max-old-space-size=${SERVICE_OLD_SPACE_MB[name]}`];
}
