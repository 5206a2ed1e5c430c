/**
 * The benchmark's clock, shared by its processes: milliseconds since the epoch, read from
 * the machine's monotonic clock with one offset, fixed by the first process that loads
 * this module and inherited by the processes it starts (the receiver).
 *
 * `performance.timeOrigin + performance.now()` fixes each process's offset when it starts.
 * A wall clock stepped between the starts of two processes puts their times that far
 * apart, and every latency measured from one to the other with it: this virtual machine
 * was forked while running (the kernel logs `random: crng reseeded due to virtual
 * machine fork`; 2026-12-04, 22:06 UTC), and the full run that followed measured every
 * delivery 40 ms later than it was, its deliverer's hop at minus 354 ms.
 */
const OFFSET_VARIABLE = 'HOOKPOST_BENCH_CLOCK_OFFSET';

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

const inherited = process.env[OFFSET_VARIABLE];
const offset = inherited ? Number(inherited) : Date.now() - monotonicMs();
process.env[OFFSET_VARIABLE] = String(offset);

export const now = (): number => offset + monotonicMs();

/**
 * How far the wall clock has moved against this clock since it was fixed: a step of the
 * machine's clock. Kafka's record timestamps are wall-clock times, so the hops measured
 * from them are off by up to this much; latencies on this clock are not.
 */
export const wallClockStepMs = (): number => Date.now() - now();
