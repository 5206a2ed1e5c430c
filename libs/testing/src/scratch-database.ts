import pg from 'pg';

export interface ScratchDatabase {
  /** Its connection string. */
  url: string;
  /** Drops it, whoever is still connected. */
  drop(): Promise<void>;
}

/**
 * A database of its own for one spec file, on the server DATABASE_URL names (the test
 * command starts one), so that spec files running side by side never see each other's
 * rows. Empty: the caller migrates it as it needs.
 */
export async function scratchDatabase(name: string): Promise<ScratchDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('DATABASE_URL: run with npm test');
  const database = `hookpost_${name}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    },
  };
}
