import { serve } from '@hookpost/platform';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { configSchema } from './config.js';

await serve(
  'subscription-api',
  configSchema,
  (config, logger) => AppModule.forRoot(config, logger),
  (app) => {
    // Bodies beyond this are refused with 413 before any handler runs.
    (app as NestExpressApplication).useBodyParser('json', { limit: '256kb' });
  },
);
