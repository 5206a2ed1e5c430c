import { startPostgres } from './postgres.ts';

/**
 * A Postgres server as its own process, for tests that stop and start the database on
 * purpose: `node tools/infra/postgres-run.ts <dataDir> <port>`. Prints `ready <url>` once
 * it takes connections; SIGTERM stops the server (a fast shutdown), then exits. Started
 * again with the same arguments, it serves the same data on the same port.
 */
const [dataDir, port] = process.argv.slice(2);
if (!dataDir || !port) {
  process.stderr.write('usage: postgres-run.ts <dataDir> <port>\n');
  process.exit(64);
}
const postgres = await startPostgres({ dataDir, port: Number(port) });
process.stdout.write(`ready ${postgres.url}\n`);
process.once('SIGTERM', () => {
  void postgres.stop().then(() => process.exit(0));
});
setInterval(() => undefined, 1 << 30);
