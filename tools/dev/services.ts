import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICE_ENV, serviceNodeFlags } from '../../libs/testing/src/service-runtime.ts';
import { ROOT, spawnChild } from './processes.ts';

export const SERVICES = [
  { name: 'subscription-api', port: 3000 },
  { name: 'event-ingest', port: 3001 },
  { name: 'matcher', port: 3002 },
  { name: 'deliverer', port: 3003 },
] as const;

export type ServiceName = (typeof SERVICES)[number]['name'];

export interface ServicesOptions {
  /** The services' environment (the stack's KAFKA_BROKERS and DATABASE_URL, secrets, settings). */
  env: NodeJS.ProcessEnv;
  logDir: string;
  /** Ports instead of the defaults (3000 to 3003). */
  ports?: Partial<Record<ServiceName, number>>;
  onExit?: (name: ServiceName, code: number | null) => void;
}

/**
 * Starts the four services from their builds, as the image runs them, each logging to
 * `<logDir>/<name>.log`; resolves with their processes (in SERVICES order) once every one
 * is ready. Migrations are the caller's.
 */
export async function startServices(options: ServicesOptions): Promise<ChildProcess[]> {
  return Promise.all(SERVICES.map((service) => startService(service.name, options)));
}

/** Starts one service as `startServices` does; resolves with its process once it is ready. */
export async function startService(
  name: ServiceName,
  options: ServicesOptions,
): Promise<ChildProcess> {
  const port = options.ports?.[name] ?? SERVICES.find((service) => service.name === name)!.port;
  const log = createWriteStream(`${options.logDir}/${name}.log`, { flags: 'a' });
  const child = spawnChild(
    process.execPath,
    [...serviceNodeFlags(name), `apps/${name}/dist/main.js`],
    {
      cwd: ROOT,
      env: { ...options.env, ...SERVICE_ENV, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.once('exit', (code) => options.onExit?.(name, code));
  await waitReady(name, port, child, options.logDir);
  return child;
}

async function waitReady(
  name: string,
  port: number,
  child: ChildProcess,
  logDir: string,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited (code ${child.exitCode}); see ${logDir}/${name}.log`);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await sleep(300);
  }
  throw new Error(`${name} not ready after 120 s; see ${logDir}/${name}.log`);
}
