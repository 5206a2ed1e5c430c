import { serve } from '@hookpost/platform';
import { AppModule } from './app.module.js';
import { configSchema } from './config.js';

await serve('deliverer', configSchema, (config, logger) => AppModule.forRoot(config, logger));
