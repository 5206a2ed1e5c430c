import {
  Global,
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Logger } from '../logging/logger.js';
import { Tracing } from '../tracing/tracing.js';
import { CONFIG, LOGGER, TRACING } from './tokens.js';

/** The service's validated config, its logger and its tracer, injectable everywhere. */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(@Inject(TRACING) private readonly tracing: Tracing) {}

  static forRoot(
    config: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined },
    logger: Logger,
    service: string,
  ): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: TRACING, useValue: Tracing.create(service, config.OTEL_EXPORTER_OTLP_ENDPOINT) },
      ],
      exports: [CONFIG, LOGGER, TRACING],
    };
  }

  /** Sends the spans still buffered. */
  async onApplicationShutdown(): Promise<void> {
    await this.tracing.shutdown();
  }
}
