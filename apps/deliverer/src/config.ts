import {
  ALWAYS,
  checkSasl,
  checkSecretKey,
  commonConfigShape,
  envVar,
  parseDuration,
} from '@hookpost/platform';
import { allowedNetworksProblem, keyringProblem } from '@hookpost/domain';
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
    ENDPOINT_ALLOWED_NETWORKS: envVar.checked('', allowedNetworksProblem),
    /** Requests in flight across all endpoints. */
    DELIVERY_CONCURRENCY: envVar.int(1_024, 1, 10_000),
    /** Requests in flight to any one endpoint, so that one endpoint cannot take the pool. */
    ENDPOINT_CONCURRENCY: envVar.int(16, 1, 1_000),
    /**
     * Jobs waiting for one endpoint's turn beyond which new ones are deferred to a retry
     * delay (not an attempt): a saturated endpoint cannot fill a partition's window. Once
     * half a partition's window is in flight, a job that would wait behind an endpoint slow
     * to answer (ADR 0010, `putOffForSaturation`) is deferred sooner.
     */
    ENDPOINT_QUEUE_LIMIT: envVar.int(250, 1, 100_000),
    /** Jobs of one partition in flight at once (started and not yet committed). */
    MAX_IN_FLIGHT_PER_PARTITION: envVar.int(1_000, 1, 100_000),
    /** Failure share (in a 30 s window of at least BREAKER_VOLUME_THRESHOLD requests) that opens an endpoint's breaker. */
    BREAKER_ERROR_THRESHOLD_PERCENT: envVar.int(50, 1, 100),
    BREAKER_VOLUME_THRESHOLD: envVar.int(5, 1, 10_000),
    /** Time a breaker stays open before one trial request. */
    BREAKER_RESET_TIMEOUT_MS: envVar.int(30_000, 100, 3_600_000),
  })
  .superRefine(checkSasl, ALWAYS)
  .superRefine(checkSecretKey(keyringProblem), ALWAYS);

export type DelivererConfig = z.infer<typeof configSchema>;
