import { DEAD_LETTER_RETENTION_MS, TOPICS } from '@hookpost/contracts';
import { retention, serviceModules, type Logger } from '@hookpost/platform';
import { Module, type DynamicModule } from '@nestjs/common';
import type { IngestConfig } from './config.js';
import { DedupeStore } from './dedupe/dedupe.store.js';
import { IngestConsumer } from './ingest/ingest.consumer.js';
import { OrganizationDirectoryService } from './organizations/organization-directory.js';

@Module({})
export class AppModule {
  static forRoot(config: IngestConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: serviceModules('event-ingest', config, logger, [
        { topic: TOPICS.mailEvents },
        { topic: TOPICS.canonicalEvents },
        { topic: TOPICS.mailEventsDeadLetter, config: retention(DEAD_LETTER_RETENTION_MS) },
        { topic: TOPICS.organizationEvents, config: { 'cleanup.policy': 'compact' } },
      ]),
      providers: [DedupeStore, OrganizationDirectoryService, IngestConsumer],
    };
  }
}
