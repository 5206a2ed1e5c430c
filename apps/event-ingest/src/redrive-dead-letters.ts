import { REJECT_REASONS, type RejectReason } from '@hookpost/contracts';
import {
  ALWAYS,
  checkSasl,
  commonConfigShape,
  createKafka,
  createLogger,
  kafkaSettings,
  loadConfigOrExit,
} from '@hookpost/platform';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { redriveDeadLetters } from './ingest/redrive.js';

/**
 * Sends dead-lettered raw mail events back to `mail-events` once what refused them is
 * fixed (docs/operations.md, HookpostIngestRejectsHigh):
 * `node apps/event-ingest/dist/redrive-dead-letters.js --reason missing_organization
 * --since 2026-12-07T09:00:00Z [--until ...] [--dry-run]` (`npm run redrive-dead-letters
 * -- ...` in a checkout), with the services' KAFKA_* settings. `--reason` may be given
 * more than once or as a list; without it, the two a change of organisations fixes.
 * Logs what it read, sent back, left, and where the letters cut to fit are.
 */
const USAGE =
  'usage: redrive-dead-letters [--reason <reason>[,<reason>...]]... [--since <ISO time>] [--until <ISO time>] [--dry-run]';

const config = loadConfigOrExit(
  'event-ingest-redrive',
  z.object(commonConfigShape).superRefine(checkSasl, ALWAYS),
);
const logger = createLogger('event-ingest-redrive', config.LOG_LEVEL);

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(64); // EX_USAGE
}

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\dT/.test(value) || Number.isNaN(ms))
    fail(`--${name} ${JSON.stringify(value)} is not an ISO-8601 time such as 2026-12-07T09:00:00Z`);
  return ms;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      reason: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}
try {
  args = parse();
} catch (error) {
  fail((error as Error).message);
}
const reasons = (args.reason ?? ['missing_organization', 'unknown_organization'])
  .flatMap((value) => value.split(','))
  .map((value) => value.trim());
const unknown = reasons.filter((reason) => !(REJECT_REASONS as readonly string[]).includes(reason));
if (unknown.length > 0)
  fail(`unknown reason ${unknown.join(', ')}: the reasons are ${REJECT_REASONS.join(', ')}`);
const since = time('since', args.since);
const until = time('until', args.until);
if (since !== undefined && until !== undefined && until <= since)
  fail('--until must be after --since');

const kafka = createKafka(kafkaSettings(config, 'redrive'), logger);
try {
  const report = await redriveDeadLetters(kafka, logger, {
    reasons: new Set(reasons as RejectReason[]),
    since,
    until,
    dryRun: args['dry-run'] ?? false,
  });
  logger.info(
    { ...report, reasons },
    report.dryRun ? 'dead letters that would be sent back (dry run)' : 'dead letters sent back',
  );
} catch (error) {
  logger.error({ err: error }, 'sending dead letters back failed');
  process.exitCode = 1;
}
