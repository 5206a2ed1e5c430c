import { ALWAYS, checkSasl, checkSecretKey, commonConfigShape, envVar } from '@hookpost/platform';
import { allowedNetworksProblem, keyringProblem } from '@hookpost/domain';
import { z } from 'zod';

export const configSchema = z
  .object({
    ...commonConfigShape,
    PORT: envVar.port(3000),
    GRPC_PORT: envVar.port(50051),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    DATABASE_POOL_SIZE: envVar.int(10, 1, 200),
    ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters'),
    SECRET_ENCRYPTION_KEY: z.string().optional(),
    SECRET_ROTATION_OVERLAP: envVar.duration('24h'),
    AUTO_PAUSE_AFTER_FAILURES: envVar.int(10, 1, 1_000_000),
    /** How long delivery attempts stay in the log (logs, retry, replay). */
    DELIVERY_LOG_RETENTION: envVar.duration('30d'),
    ALLOW_HTTP_ENDPOINTS: envVar.bool(false),
    ENDPOINT_ALLOWED_NETWORKS: envVar.checked('', allowedNetworksProblem),
    /** API calls a second per organisation and replica, in bursts of twice that; 0: no limit. */
    API_RATE_LIMIT: envVar.int(500, 0, 1_000_000),
    /** Test events and replays a minute per organisation and replica; 0: no limit. */
    API_SEND_RATE_LIMIT: envVar.int(60, 0, 1_000_000),
  })
  .superRefine(checkSasl, ALWAYS)
  .superRefine(checkSecretKey(keyringProblem), ALWAYS);

export type ApiConfig = z.infer<typeof configSchema>;
