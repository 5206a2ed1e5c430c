import pg from 'pg';
import { round } from './stats.ts';

/**
 * Postgres's own upkeep through a benchmark run, from its cumulative statistics: how much
 * write-ahead log the pipeline's writes cost, how much of it full-page images (the first
 * change to each page after a checkpoint begins is logged as the whole page), and the
 * checkpoints and autovacuum runs that fell in the run. On two shared cores these are
 * work the services wait for; a run that holds a checkpoint's first minutes, or an
 * autovacuum pass, is not the same run as one that does not.
 *
 * Counters are read before and after each run; Postgres publishes a backend's counts
 * within about a second, so they are taken after the run's last delivery.
 */
const INSUFFICIENT_PRIVILEGE = '42501';

export interface PostgresCounters {
  /** Bytes of WAL inserted so far (the insert position, exact at any moment). */
  walBytes: number;
  walFullPageImages: number;
  /** Checkpoints begun, on schedule or requested (by WAL volume, mostly). */
  checkpoints: number;
  /** Autovacuum's vacuums and analyses of the pipeline's tables that finished. */
  autovacuumRuns: number;
  /** Seconds those took, where Postgres reports it (18 and later); else NaN. */
  autovacuumSeconds: number;
}

export interface PostgresUpkeep {
  wal_bytes_per_delivery: number;
  full_page_images_per_delivery: number;
  /** Checkpoints that began while the load ran or its deliveries drained. */
  checkpoints: number;
  autovacuum_runs: number;
  autovacuum_seconds: number;
}

export class PostgresWatch {
  private readonly client: pg.Client;
  private checkpointQuery = '';
  private autovacuumTime = false;
  private mayCheckpoint = true;

  private constructor(client: pg.Client) {
    this.client = client;
  }

  static async connect(url: string): Promise<PostgresWatch> {
    const watch = new PostgresWatch(new pg.Client({ connectionString: url }));
    await watch.client.connect();
    try {
      await watch.learnVersion();
    } catch (error) {
      await watch.close().catch(() => undefined);
      throw error;
    }
    return watch;
  }

  /** Which statistics this server has, by its version. */
  private async learnVersion(): Promise<void> {
    const version = (
      await this.client.query<{ v: number }>(
        "SELECT current_setting('server_version_num')::int AS v",
      )
    ).rows[0]!.v;
    if (version < 140000)
      throw new Error(`Postgres ${version} has no pg_stat_wal: the benchmark needs 14 or later`);
    // Postgres 17 moved the checkpoint counters out of pg_stat_bgwriter.
    this.checkpointQuery =
      version >= 170000
        ? 'SELECT num_timed + num_requested AS n FROM pg_stat_checkpointer'
        : 'SELECT checkpoints_timed + checkpoints_req AS n FROM pg_stat_bgwriter';
    this.autovacuumTime = version >= 180000;
  }

  async read(): Promise<PostgresCounters> {
    // One query at a time: a client runs them in turn anyway.
    const wal = await this.client.query<{ bytes: string; fpi: string }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0') AS bytes, wal_fpi AS fpi
         FROM pg_stat_wal`,
    );
    const checkpoints = await this.client.query<{ n: string }>(this.checkpointQuery);
    const tables = await this.client.query<{ runs: string; ms: string | null }>(
      `SELECT sum(autovacuum_count + autoanalyze_count) AS runs,
              ${this.autovacuumTime ? 'sum(total_autovacuum_time + total_autoanalyze_time)' : 'NULL'} AS ms
         FROM pg_stat_user_tables`,
    );
    const ms = tables.rows[0]!.ms;
    return {
      walBytes: Number(wal.rows[0]!.bytes),
      walFullPageImages: Number(wal.rows[0]!.fpi),
      checkpoints: Number(checkpoints.rows[0]!.n),
      autovacuumRuns: Number(tables.rows[0]!.runs ?? 0),
      autovacuumSeconds: ms === null ? NaN : Number(ms) / 1_000,
    };
  }

  /**
   * Brings Postgres's upkeep up to date before a run that is compared with another: every
   * table vacuumed and analysed, then a checkpoint. Otherwise the run after the throughput
   * steps inherits their upkeep: autovacuum goes over the hundreds of thousands of rows
   * they added (7 s of it in the minute after them, against 2.6 s in the next), and the
   * checkpoint their WAL began is still under way. After this, each run starts as the
   * others do, and holds the upkeep of its own minute's writes. Where the role may not
   * checkpoint (an operator's own database, without `pg_checkpoint`), the vacuum alone.
   * Returns the seconds it took, and whether it checkpointed.
   */
  async settle(): Promise<{ seconds: number; checkpointed: boolean }> {
    const started = performance.now();
    await this.client.query('VACUUM (ANALYZE)');
    if (this.mayCheckpoint) {
      try {
        await this.client.query('CHECKPOINT');
      } catch (error) {
        if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
        this.mayCheckpoint = false;
      }
    }
    return { seconds: (performance.now() - started) / 1_000, checkpointed: this.mayCheckpoint };
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** What Postgres's upkeep came to between two readings, per delivery where it scales so. */
export function upkeep(
  before: PostgresCounters,
  after: PostgresCounters,
  deliveries: number,
): PostgresUpkeep {
  return {
    wal_bytes_per_delivery: Math.round((after.walBytes - before.walBytes) / deliveries),
    full_page_images_per_delivery: round(
      (after.walFullPageImages - before.walFullPageImages) / deliveries,
      3,
    ),
    checkpoints: after.checkpoints - before.checkpoints,
    autovacuum_runs: after.autovacuumRuns - before.autovacuumRuns,
    autovacuum_seconds: round(after.autovacuumSeconds - before.autovacuumSeconds, 2),
  };
}
