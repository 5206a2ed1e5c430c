import { CONFIG, Readiness } from '@hookpost/platform';
import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ApiConfig } from '../config.js';
import { createDataSource } from './data-source.js';

@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly dataSource: DataSource,
    readiness: Readiness,
  ) {
    readiness.register('database', async () => {
      await this.dataSource.query('SELECT 1');
      return true;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/** The Postgres connection pool (TypeORM over pg). */
@Global()
@Module({
  providers: [
    {
      provide: DataSource,
      inject: [CONFIG],
      useFactory: async (config: ApiConfig) => {
        const dataSource = createDataSource(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
        await dataSource.initialize();
        if (await dataSource.showMigrations()) {
          throw new Error(
            'the database schema is not up to date: run the migrations (migrate.js) first',
          );
        }
        return dataSource;
      },
    },
    DatabaseLifecycle,
  ],
  exports: [DataSource],
})
export class DatabaseModule {}
