import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import type { QueryRunner } from 'typeorm';
import { jsonWithRawField } from '../../libs/contracts/src/codec.ts';
import { EventLog1764000000003 } from '../../apps/subscription-api/src/database/migrations/1764000000003-event-log.ts';
import { freePort } from '../../libs/testing/src/ports.ts';
import { removeDataDirs, startPostgres } from '../infra/postgres.ts';
import { round } from './stats.ts';

/**
 * What Postgres spends on one row of the event log (`mail_events`), by how many rows a
 * statement carries and by how the table and the insert are made. The pipeline's
 * benchmark measures the event log's whole cost (docs/performance.md); this one takes the
 * database's part apart: the server process's CPU time (`/proc/<pid>/stat`) and the WAL
 * written, per row.
 *
 *   npm run bench:event-log-insert                  on an embedded Postgres of its own
 *   DATABASE_URL=... npm run bench:event-log-insert on another (it creates a table
 *                                                   `bench_mail_events` there, and drops it)
 *
 * The server's CPU is read from /proc, so Postgres must run on this machine.
 */

const ROWS = 20_000;
const BATCHES = [1, 10, 60, 250];
const TABLE = 'bench_mail_events';

interface Row {
  event_id: string;
  organization_id: string;
  message_id: string;
  type: string;
  occurred_at: string;
  /** The canonical event as the ingest produced it, about 1 KB. */
  json: string;
}

interface Variant {
  name: string;
  create: (db: pg.Client) => Promise<void>;
  insert: (db: pg.Client, rows: Row[]) => Promise<unknown>;
}

/** The table as the migration makes it, under the benchmark's own name. */
async function migrationTable(db: pg.Client): Promise<void> {
  const renamed = { query: (sql: string) => db.query(sql.replaceAll('mail_events', TABLE)) };
  await new EventLog1764000000003().up(renamed as unknown as QueryRunner);
}

/** The rows as one JSON array, each event inside as the text it came in, as the API sends them. */
function recordset(rows: Row[]): string {
  return `[${rows.map(({ json, ...columns }) => jsonWithRawField(columns, 'event', json)).join(',')}]`;
}

/** The event log's insert (apps/subscription-api/src/deliveries/event-log.consumer.ts). */
const recordsetInsert = (db: pg.Client, rows: Row[]) =>
  db.query(
    `INSERT INTO ${TABLE} (event_id, organization_id, message_id, type, occurred_at, event)
     SELECT event_id, organization_id, message_id, type, occurred_at, event
     FROM jsonb_to_recordset($1::jsonb) AS e(event_id text, organization_id text,
       message_id text, type text, occurred_at timestamptz, event jsonb)
     ON CONFLICT (event_id) DO NOTHING`,
    [recordset(rows)],
  );

const VARIANTS: Variant[] = [
  { name: 'as the API writes it', create: migrationTable, insert: recordsetInsert },
  {
    name: 'json column, one array per column',
    create: async (db) => {
      await migrationTable(db);
      await db.query(`ALTER TABLE ${TABLE} ALTER COLUMN event TYPE json`);
    },
    insert: (db, rows) =>
      db.query(
        `INSERT INTO ${TABLE} (event_id, organization_id, message_id, type, occurred_at, event)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
           $5::timestamptz[], $6::json[])
         ON CONFLICT (event_id) DO NOTHING`,
        (['event_id', 'organization_id', 'message_id', 'type', 'occurred_at', 'json'] as const).map(
          (column) => rows.map((row) => row[column]),
        ),
      ),
  },
  {
    name: 'without the index on seq',
    create: async (db) => {
      await migrationTable(db);
      await db.query(`ALTER TABLE ${TABLE} DROP CONSTRAINT ${TABLE}_seq_key`);
    },
    insert: recordsetInsert,
  },
  {
    name: 'the primary key alone',
    create: async (db) => {
      await migrationTable(db);
      await db.query(`ALTER TABLE ${TABLE} DROP CONSTRAINT ${TABLE}_seq_key`);
      await db.query(`DROP INDEX ${TABLE}_message, ${TABLE}_time`);
    },
    insert: recordsetInsert,
  },
];

let sequence = 0;
function event(): Row {
  sequence++;
  const id = `evt_${sequence.toString(36).padStart(6, '0')}${Math.random().toString(36).slice(2, 16)}`;
  const organization = `org_${sequence % 10}`;
  const occurredAt = new Date().toISOString();
  const data = {
    message_id: `msg_${sequence}`,
    recipient: 'someone@example.com',
    sender: 'news@example.org',
    subject: 'Your December newsletter',
    // Padding to the pipeline benchmark's 1 KB events.
    padding: 'x'.repeat(720),
  };
  const json = JSON.stringify({
    id,
    type: 'message.delivered',
    organization_id: organization,
    occurred_at: occurredAt,
    data,
  });
  return {
    event_id: id,
    organization_id: organization,
    message_id: data.message_id,
    type: 'message.delivered',
    occurred_at: occurredAt,
    json,
  };
}

const ticksPerSecond = 100;
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function measure(db: pg.Client, pid: number, variant: Variant, batch: number) {
  await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await variant.create(db);
  const batches = Array.from({ length: ROWS / batch }, () => Array.from({ length: batch }, event));
  const { rows: before } = await db.query('SELECT pg_current_wal_lsn() AS lsn');
  const cpu = cpuSeconds(pid);
  for (const rows of batches) await variant.insert(db, rows);
  const cpuUs = ((cpuSeconds(pid) - cpu) * 1e6) / ROWS;
  const { rows: wal } = await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS b', [
    before[0].lsn,
  ]);
  return { cpu_us_per_row: round(cpuUs, 1), wal_bytes_per_row: Math.round(wal[0].b / ROWS) };
}

const dataDir = `${tmpdir()}/hookpost-event-log-insert-${process.pid}`;
const own = process.env.DATABASE_URL
  ? undefined
  : await startPostgres({ dataDir, port: await freePort() });
const db = new pg.Client({ connectionString: process.env.DATABASE_URL ?? own!.url });
try {
  await db.connect();
  const { rows } = await db.query('SELECT pg_backend_pid() AS pid');
  const pid = rows[0].pid as number;
  // Three rounds through every variant and size in turn; the least of each figure's three
  // is reported, the one least disturbed by whatever else the machine did meanwhile.
  const results: Record<
    string,
    Record<string, { cpu_us_per_row: number; wal_bytes_per_row: number }>
  > = {};
  for (let roundNumber = 0; roundNumber < 3; roundNumber++)
    for (const variant of VARIANTS)
      for (const batch of BATCHES) {
        const figures = await measure(db, pid, variant, batch);
        const byBatch = (results[variant.name] ??= {});
        const key = `${batch} rows a statement`;
        const best = byBatch[key];
        byBatch[key] =
          best === undefined
            ? figures
            : {
                cpu_us_per_row: Math.min(best.cpu_us_per_row, figures.cpu_us_per_row),
                wal_bytes_per_row: Math.min(best.wal_bytes_per_row, figures.wal_bytes_per_row),
              };
      }
  await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
  process.stdout.write(`${JSON.stringify({ rows: ROWS, results }, null, 2)}\n`);
} finally {
  await db.end();
  if (own) {
    await own.stop();
    removeDataDirs(dataDir);
  }
}
