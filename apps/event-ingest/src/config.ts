import { ALWAYS, checkSasl, commonConfigShape, envVar } from '@hookpost/platform';
import { z } from 'zod';

export const configSchema = z
  .object({
    ...commonConfigShape,
    PORT: envVar.port(3001),
    MAX_EVENT_BYTES: envVar.int(262_144, 1_024, 10_485_760),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    DATABASE_POOL_SIZE: envVar.int(4, 1, 200),
    /** How long an event id is remembered: copies further apart are delivered twice. */
    DEDUPE_WINDOW: envVar.duration('72h'),
  })
  .superRefine(checkSasl, ALWAYS);

export type IngestConfig = z.infer<typeof configSchema>;
