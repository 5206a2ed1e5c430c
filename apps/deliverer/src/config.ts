import {
  ALWAYS,
  checkSasl,
  checkSecretKey,
  commonConfigShape,
  envVar,
  parseDuration,
} from '@hookpost/platform';
import { z } from 'zod';

/** `1m,5m,30m,2h,12h` -> [60, 300, 1800, 7200, 43200] seconds. */
const retrySchedule = z
  .string()
  .default('1m,5m,30m,2h,12h')
  .transform((text, ctx) => {
    const delays = text.split(',').map((item) => parseDuration(item.trim()));
    if (
      delays.some((ms) => ms === undefined || ms < 1_000 || ms % 1_000 !== 0) ||
      delays.length > 20
    ) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected up to 20 whole-second delays such as 2s,4s or 1m,5m,30m,2h,12h',
      });
      return z.NEVER;
    }
    return delays.map((ms) => ms! / 1_000);
  });

export const configSchema = z
  .object({
    ...commonConfigShape,
    PORT: envVar.port(3003),
    SECRET_ENCRYPTION_KEY: z.string().optional(),
    DELIVERY_TIMEOUT_MS: envVar.int(10_000, 100, 120_000),
    RETRY_SCHEDULE: retrySchedule,
    ALLOW_HTTP_ENDPOINTS: envVar.bool(false),
    ENDPOINT_ALLOWED_NETWORKS: z.string().default(''),
    /** Requests in flight across all endpoints. */
    DELIVERY_CONCURRENCY: envVar.int(256, 1, 10_000),
  })
  .superRefine(checkSasl, ALWAYS)
  .superRefine(checkSecretKey, ALWAYS);

export type DelivererConfig = z.infer<typeof configSchema>;
