import 'reflect-metadata';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { z } from 'zod';
import { ConfigError, loadConfig, type CommonConfig } from '../config/config.js';
import type { KafkaSettings } from '../kafka/kafka.js';
import { createLogger, NestPinoLogger, type Logger } from '../logging/logger.js';
import { keepAliveDrain } from './keep-alive-drain.js';

/** Loads the config, or exits naming every bad variable. */
export function loadConfigOrExit<S extends z.ZodType>(service: string, schema: S): z.infer<S> {
  try {
    return loadConfig(schema);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(
      `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service, message: error.message, problems: error.problems })}\n`,
    );
    process.exit(78); // EX_CONFIG
  }
}

export function kafkaSettings(config: CommonConfig, service: string): KafkaSettings {
  return {
    brokers: config.KAFKA_BROKERS,
    clientId: `${config.KAFKA_CLIENT_ID}-${service}`,
    ssl: config.KAFKA_SSL,
    sasl:
      config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
        ? {
            mechanism: config.KAFKA_SASL_MECHANISM,
            username: config.KAFKA_SASL_USERNAME,
            password: config.KAFKA_SASL_PASSWORD,
          }
        : undefined,
  };
}

/**
 * How long an idle keep-alive connection stays open. Longer than the idle timeout of the
 * proxies that sit in front of a service (60 s for an AWS ALB and for nginx): the side
 * that closes an idle connection first races a request sent on it, and when that is the
 * service, the request is reset (a 502 from the proxy, ECONNRESET for a direct client).
 * Node's default is 5 s. Shutdown is not delayed: closing the server closes idle connections.
 */
const KEEP_ALIVE_MS = 65_000;

/**
 * How long a graceful shutdown may take: under Kubernetes' default grace of 30 s, and
 * within the 10 s that docs/reliability.md promises (a deploy waits on each pod).
 */
const SHUTDOWN_DEADLINE_MS = 9_000;

export interface ServiceOptions {
  name: string;
  port: number;
  logger: Logger;
  module: DynamicModule;
  /** Extra set-up before listening (pipes, filters, gRPC, OpenAPI). */
  configure?: (app: INestApplication) => void | Promise<void>;
}

/**
 * Starts a service's Nest application: JSON logs, graceful shutdown on SIGTERM/SIGINT
 * (consumers stop, in-flight work finishes, the producer flushes), HTTP on `port`.
 */
export async function runService(options: ServiceOptions): Promise<INestApplication> {
  const { logger } = options;
  // Process warnings go to the JSON log, not raw stderr.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logger.warn({ warning: warning.name }, warning.message));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
  const app = await NestFactory.create(options.module, {
    logger: new NestPinoLogger(logger),
    abortOnError: false,
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  const server = app.getHttpServer() as Server;
  const keepAlive = keepAliveDrain(server);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down: stopping consumers, finishing work in flight');
      // Else a client that keeps its connection busy holds the shutdown to its deadline.
      keepAlive.drain();
      // Leaving a consumer group or flushing a producer waits on the broker, and kafkajs
      // retries for half a minute when it is gone. Past the deadline the process exits as
      // it is: nothing unfinished was committed, so whoever takes over repeats it.
      setTimeout(() => {
        logger.error(
          { deadlineMs: SHUTDOWN_DEADLINE_MS },
          'shutdown did not finish in time (is Kafka or Postgres unreachable?): exiting now',
        );
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
    });
  }
  await options.configure?.(app);
  // Which framework answers is nobody's business.
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable(
    'x-powered-by',
  );
  server.on('clientError', answerClientError);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await app.listen(options.port, '0.0.0.0');
  app.getHttpServer().once('close', () => logger.info('stopped'));
  logger.info(
    { port: options.port },
    `${options.name} listening on http://127.0.0.1:${options.port}`,
  );
  return app;
}

/**
 * A request Node's HTTP parser refuses before any handler sees it (headers over its
 * limit, malformed HTTP, a request too slow to arrive) gets the API's JSON error shape
 * too, not Node's empty answer.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'bad_request', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code, message, details: [] } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export { createLogger };
