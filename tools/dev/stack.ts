import { startKafka } from '../infra/kafka.ts';
import { removeDataDirs, startPostgres } from '../infra/postgres.ts';
import { say } from './processes.ts';

export interface StackOptions {
  dataDir: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  postgresPort: number;
}

export interface Stack {
  env: { KAFKA_BROKERS: string; DATABASE_URL: string };
  stop(): Promise<void>;
  /** Deletes what the local servers stored (for throwaway test stacks). */
  purge(): void;
}

/**
 * The infrastructure Hookpost runs on: the Kafka brokers and Postgres from KAFKA_BROKERS
 * and DATABASE_URL when they are set, else a local single-node Kafka (KRaft) and an
 * embedded Postgres started here, under `dataDir`.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const stops: Array<() => Promise<void>> = [];
  const dirs: string[] = [options.dataDir];
  const stop = async () => {
    for (const s of stops.reverse())
      await s().catch((error: Error) => say(`stop failed: ${error.message}`));
  };
  try {
    const [brokers, databaseUrl] = await Promise.all([
      process.env.KAFKA_BROKERS
        ? Promise.resolve(process.env.KAFKA_BROKERS)
        : startKafka({
            dataDir: `${options.dataDir}/kafka`,
            port: options.kafkaPort,
            controllerPort: options.kafkaControllerPort,
          }).then((kafka) => {
            stops.push(() => kafka.stop());
            say(`Kafka ready at ${kafka.brokers}`);
            return kafka.brokers;
          }),
      process.env.DATABASE_URL
        ? Promise.resolve(process.env.DATABASE_URL)
        : startPostgres({
            dataDir: `${options.dataDir}/postgres`,
            port: options.postgresPort,
          }).then((pg) => {
            stops.push(() => pg.stop());
            dirs.push(pg.dataDir);
            say(`Postgres ready on port ${options.postgresPort}`);
            return pg.url;
          }),
    ]);
    const purge = () => {
      for (const dir of dirs) removeDataDirs(dir);
    };
    return { env: { KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl }, stop, purge };
  } catch (error) {
    await stop();
    throw error;
  }
}
