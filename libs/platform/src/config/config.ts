import { z } from 'zod';

/** A configuration problem, naming every bad variable (never its value: it may be a secret). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment with a schema. Empty values count as unset, so an `.env`
 * copied from `.env.example` with blanks gets the defaults.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      // Name the variable; a position inside a list (KAFKA_BROKERS entry 2) goes in the message.
      const [name, ...rest] = issue.path;
      const where = rest.length > 0 ? ` (entry ${Number(rest[0]) + 1})` : '';
      return `${String(name ?? '(environment)')}: ${issue.message}${where}`;
    }),
  );
}

/** What loading `env` with `schema` finds wrong, each naming its variable; none when it loads. */
export function configProblems(schema: z.ZodType, env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(schema, env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `250ms`, `2s`, `5m`, `2h`, `1d` -> milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Building blocks for the services' config schemas. */
export const envVar = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((value) => value === 'true' || value === '1' || value === 'yes'),
  duration: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((text, ctx) => {
        const ms = parseDuration(text);
        if (ms === undefined) {
          ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30s, 5m, 24h' });
          return z.NEVER;
        }
        return ms;
      }),
  /**
   * Text that `problem` finds nothing wrong with (a rule another library owns, such as the
   * endpoint policy's); its message, which must not echo a secret, is reported under the
   * variable's name with the other problems.
   */
  checked: (fallback: string, problem: (value: string) => string | undefined) =>
    z
      .string()
      .default(fallback)
      .superRefine((value, ctx) => {
        const message = problem(value);
        if (message) ctx.addIssue({ code: 'custom', message });
      }),
  list: () =>
    z.string().transform((text) =>
      text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    ),
};

export const NODE_ENVS = ['development', 'test', 'production'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Settings every service shares: environment, logging, Kafka. */
export const commonConfigShape = {
  NODE_ENV: z.enum(NODE_ENVS).default('production'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  KAFKA_BROKERS: envVar
    .list()
    .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1)),
  KAFKA_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/)
    .default('hookpost'),
  KAFKA_SSL: envVar.bool(false),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_TOPIC_PARTITIONS: envVar.int(6, 0, 10_000),
  KAFKA_REPLICATION_FACTOR: envVar.int(1, 1, 10),
  /** OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); traces are exported only when set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ message: 'expected a URL' }).optional(),
};

export type CommonConfig = z.infer<z.ZodObject<typeof commonConfigShape>>;

/**
 * Cross-variable rules run even when single variables are already wrong, so that one
 * start reports every problem: pass as `.superRefine(rule, ALWAYS)`.
 */
export const ALWAYS = { when: () => true } as const;

/** Rejects SASL half-configured; used with `.superRefine(checkSasl, ALWAYS)` on a service schema. */
export function checkSasl(config: Partial<CommonConfig>, ctx: z.RefinementCtx): void {
  if (config.KAFKA_SASL_MECHANISM && (!config.KAFKA_SASL_USERNAME || !config.KAFKA_SASL_PASSWORD)) {
    ctx.addIssue({
      code: 'custom',
      path: ['KAFKA_SASL_USERNAME'],
      message: 'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
    });
  }
}

/**
 * SECRET_ENCRYPTION_KEY is required outside development (services that hold secrets), and
 * must be a keyring `problem` finds nothing wrong with: a bad one is refused with the
 * other settings, by name, before the service starts. `problem` never echoes key material.
 */
export function checkSecretKey(problem: (keyring: string) => string | undefined) {
  return (
    config: { NODE_ENV?: string; SECRET_ENCRYPTION_KEY?: string },
    ctx: z.RefinementCtx,
  ): void => {
    const key = config.SECRET_ENCRYPTION_KEY;
    const message = key
      ? problem(key)
      : config.NODE_ENV !== 'development'
        ? 'required outside development (NODE_ENV=development allows the insecure development key)'
        : undefined;
    if (message) ctx.addIssue({ code: 'custom', path: ['SECRET_ENCRYPTION_KEY'], message });
  };
}
