import { readFileSync, readdirSync } from 'node:fs';

/**
 * What the benchmark reads of its processes and of the machine from /proc: CPU time,
 * peak memory, waits for a core. Linux counts CPU time in clock ticks, 100 per second.
 */

/**
 * A `/proc/.../stat` line: its command name, and the fields after it (`[11]` and `[12]` are
 * utime and stime, `[13]` and `[14]` those of exited children, in clock ticks, 100 per
 * second on Linux). The name is in parentheses and may hold spaces.
 */
function parseStat(stat: string): { comm: string; fields: string[] } {
  const close = stat.lastIndexOf(')');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    fields: stat.slice(close + 2).split(' '),
  };
}

/** CPU-seconds used and peak resident memory of one process. */
export function processStats(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const { fields } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  return { cpuSeconds, peakRssMb };
}

/**
 * Seconds the process's main thread has waited, runnable, for a core (the second field of
 * `/proc/<pid>/task/<pid>/schedstat`, in ns). A busy event loop is either running or
 * waiting for a core; event-loop utilisation cannot tell the two apart, this can.
 */
export function mainThreadWaitSeconds(pid: number): number {
  const [, waitingNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ');
  return Number(waitingNs) / 1e9;
}

/**
 * CPU-seconds used so far by every process whose command name is `comm` (the broker is
 * `java`; Postgres runs a process per connection), with their children that exited (a
 * closed connection's backend counts in the postmaster's `cutime`).
 */
export function cpuSecondsOf(comm: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat.comm !== comm) continue;
      const { fields } = stat;
      total +=
        (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
    } catch {
      // gone between the listing and the read
    }
  }
  return total;
}

/**
 * CPU-seconds the JVMs' JIT compiler threads (the broker's C1 and C2) have used so far:
 * how far the broker is from its steady state, which takes it minutes on this machine.
 */
export function jitCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'java') continue;
      for (const task of readdirSync(`/proc/${entry}/task`)) {
        const { comm, fields } = parseStat(
          readFileSync(`/proc/${entry}/task/${task}/stat`, 'utf8'),
        );
        if (!/^C\d CompilerThre/.test(comm)) continue;
        total += (Number(fields[11]) + Number(fields[12])) / 100;
      }
    } catch {
      // gone between the listing and the read
    }
  }
  return total;
}

/**
 * CPU-seconds the whole machine has used (every process: broker, Postgres, receiver...),
 * and how many of them were the kernel's: system calls, interrupts and softirqs, where
 * loopback TCP sends and receives for every Kafka request, Postgres statement and webhook.
 */
export function machineCpuSeconds(): { total: number; kernel: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal: all but idle and iowait.
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return {
    total: (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100,
    kernel: (system! + irq! + softirq!) / 100,
  };
}
