import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Small helpers for the project's own commands: run a step, report, stop children. */

export const ROOT = new URL('../../', import.meta.url).pathname;

export function say(message: string): void {
  process.stderr.write(`hookpost: ${message}\n`);
}

/** Runs a command to completion with inherited output; throws on failure. */
export function step(
  title: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): void {
  say(title);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env });
  if (result.status !== 0) {
    throw new Error(
      `${title} failed (${command} ${args.join(' ')} exited ${result.status ?? result.signal})`,
    );
  }
  say(`${title}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Children started in their own process group, so a Ctrl-C reaches only us and we stop them in order. */
export function spawnChild(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const children = new Set<ChildProcess>();

/** Last resort when we exit with children still running (an error, a second Ctrl-C). */
process.on('exit', () => {
  for (const child of children) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * For a command that has nothing to finish when it is interrupted (a benchmark): on
 * SIGINT or SIGTERM, exit at once. Node's default for both ends the process without its
 * exit handlers, which are what stop the broker, Postgres and the services it started (in
 * sessions of their own, which a Ctrl-C does not reach): they would be left running.
 */
export function exitOnSignals(): void {
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
