import { serve } from '@hookpost/platform';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { configSchema } from './config.js';
import { MAX_REQUEST_BYTES, requireJsonBody } from './http/json-body.js';
import { openApiDocument } from './http/openapi.js';

await serve(
  'subscription-api',
  configSchema,
  (config, logger) => AppModule.forRoot(config, logger),
  (app) => {
    // Before the parser: a body it would skip (another type) or misread (another charset).
    app.use(requireJsonBody);
    // Bodies beyond this are refused with 413 before any handler runs.
    (app as NestExpressApplication).useBodyParser('json', { limit: MAX_REQUEST_BYTES });
    // The reference, for people (/docs) and tools (/docs/openapi.json).
    SwaggerModule.setup('docs', app, openApiDocument() as unknown as OpenAPIObject, {
      jsonDocumentUrl: 'docs/openapi.json',
      yamlDocumentUrl: 'docs/openapi.yaml',
    });
  },
);
