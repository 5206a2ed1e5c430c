import { ALWAYS, checkSasl, commonConfigShape, envVar } from '@hookpost/platform';
import { z } from 'zod';

export const configSchema = z
  .object({
    ...commonConfigShape,
    PORT: envVar.port(3002),
  })
  .superRefine(checkSasl, ALWAYS);

export type MatcherConfig = z.infer<typeof configSchema>;
