import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

export interface HostFacts {
  cpu_model: string;
  /**
   * The processor's family, model and stepping, as /proc/cpuinfo gives them: a virtual
   * machine's model name may hide the generation ("AMD EPYC"), these do not.
   */
  cpu_id: string;
  cpu_mhz: number;
  kernel: string;
  spectre_v2: string;
}

/**
 * The processor and kernel a benchmark run got. Boots of this machine differ by up to
 * twice in speed (docs/performance.md), with nothing of the project changed: these tell
 * whether the virtual machine landed on another processor, or with other mitigations.
 */
export function hostFacts(): HostFacts {
  const [first] = cpus();
  // os.cpus() reads the clock from cpufreq, which a virtual machine may not have (it then
  // says 0); /proc/cpuinfo has the kernel's own figure.
  const cpuinfo = readIfThere('/proc/cpuinfo') ?? '';
  const field = (name: string) =>
    new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const mhz = Number(field('cpu MHz'));
  return {
    cpu_model: first?.model ?? 'unknown',
    cpu_id: `family ${field('cpu family') ?? '?'}, model ${field('model') ?? '?'}, stepping ${field('stepping') ?? '?'}`,
    cpu_mhz: mhz > 0 ? Math.round(mhz) : (first?.speed ?? 0),
    kernel: release(),
    spectre_v2:
      readIfThere('/sys/devices/system/cpu/vulnerabilities/spectre_v2')?.trim() ?? 'unknown',
  };
}

/** A file's text, or undefined where it does not exist (not Linux, an older kernel). */
export function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
