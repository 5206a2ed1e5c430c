import { serve } from '@hookpost/platform';
import { AppModule } from './app.module.js';
import { configSchema } from './config.js';

await serve('matcher', configSchema, (config, logger) => AppModule.forRoot(config, logger));
