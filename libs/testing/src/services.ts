import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICE_ENV, serviceNodeFlags } from './service-runtime.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const SERVICE_PORTS = {
  'subscription-api': 3000,
  'event-ingest': 3001,
  matcher: 3002,
  deliverer: 3003,
} as const;

export type ServiceName = keyof typeof SERVICE_PORTS;

export interface RunningService {
  name: ServiceName;
  port: number;
  process: ChildProcess;
  logFile: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts one built service (`apps/<name>/dist/main.js`) as a real process, its JSON log
 * going to a file, and waits until `/health/ready` answers 200.
 */
export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  options: { port?: number; logDir: string; readyTimeoutMs?: number },
): Promise<RunningService> {
  const port = options.port ?? SERVICE_PORTS[name];
  mkdirSync(options.logDir, { recursive: true });
  const logFile = `${options.logDir}/${name}.log`;
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [...serviceNodeFlags(name), `${REPO_ROOT}apps/${name}/dist/main.js`],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...SERVICE_ENV, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  // A test run that ends abruptly must not leave services behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const service: RunningService = {
    name,
    port,
    process: child,
    logFile,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  await waitReady(service, options.readyTimeoutMs ?? 90_000, exited);
  return service;
}

async function waitReady(
  service: RunningService,
  timeoutMs: number,
  exited: Promise<number | null>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  // What the service last said about its readiness: which checks still failed.
  let last = 'not listening';
  while (Date.now() < deadline) {
    if (gone)
      throw new Error(
        `${service.name} exited before it was ready; see ${service.logFile}${logTail(service)}`,
      );
    try {
      const response = await fetch(`http://127.0.0.1:${service.port}/health/ready`);
      if (response.status === 200) return;
      last = await response.text();
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  await service.stop('SIGKILL');
  throw new Error(
    `${service.name} not ready after ${timeoutMs} ms (last: ${last}); see ${service.logFile}${logTail(service)}`,
  );
}

/** Lines of the log a failure shows: its files are gone with the checkout that ran it. */
const TAIL_LINES = 25;

/** The end of a service's log, minus the framework's start-up lines, for an error message. */
function logTail(service: RunningService): string {
  try {
    const lines = readFileSync(service.logFile, 'utf8')
      .split('\n')
      .filter(
        (line) => line && !/"context":"(InstanceLoader|RouterExplorer|RoutesResolver)"/.test(line),
      )
      .slice(-TAIL_LINES)
      .map((line) => line.slice(0, 400));
    return lines.length > 0 ? `\nits log ends:\n${lines.join('\n')}` : '';
  } catch {
    return '';
  }
}
