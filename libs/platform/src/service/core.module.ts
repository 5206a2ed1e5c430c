import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from '../logging/logger.js';
import { CONFIG, LOGGER } from './tokens.js';

/** The service's validated config and its logger, injectable everywhere. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: unknown, logger: Logger): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
      ],
      exports: [CONFIG, LOGGER],
    };
  }
}
