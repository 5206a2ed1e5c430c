import { ALWAYS, checkSasl, commonConfigShape, envVar } from '@hookpost/platform';
import { z } from 'zod';

export const configSchema = z
  .object({
    ...commonConfigShape,
    PORT: envVar.port(3001),
    MAX_EVENT_BYTES: envVar.int(262_144, 1_024, 10_485_760),
  })
  .superRefine(checkSasl, ALWAYS);

export type IngestConfig = z.infer<typeof configSchema>;
