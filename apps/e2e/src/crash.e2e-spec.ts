import { freePort, REPO_ROOT, type ServiceName } from '@hookpost/testing';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerReceiver, type Ledger } from './ledger.js';
import { http, requireEnv, startPipeline, tenant, type Pipeline } from './pipeline.js';

/**
 * Crashes and faults under a steady load: events go to `mail-events` at a fixed rate for
 * many subscriptions of several organisations while, in turn, each service is killed
 * (SIGKILL) and restarted, the Kafka broker is restarted, Postgres is stopped for 10 s,
 * and each service is stopped with SIGTERM and restarted; the cycle repeats while events
 * are still being produced. Throughout, the REST API is polled. At the end the ledger:
 * every (event, matching subscription) pair delivered at least once, few duplicates, and
 * every duplicate a redelivery of the same message (same webhook-id).
 *
 * The suite runs on a broker and a Postgres of its own, which it stops and starts.
 * CRASH_EVENTS (default 20,000) and CRASH_RATE (events per second, default 60) size the
 * run: `npm run test:crash` is the long version (docs/reliability.md).
 */

const EVENTS = Number(process.env.CRASH_EVENTS ?? 20_000);
const RATE = Number(process.env.CRASH_RATE ?? 60);
const ORGANIZATIONS = 6;
const TYPES = [
  'message.delivered',
  'message.bounced',
  'message.opened',
  'message.clicked',
  'message.complained',
  'message.sent',
] as const;
type EventType = (typeof TYPES)[number];
/** Sending domains per organisation; the first SCOPED_DOMAINS have a subscription each. */
const DOMAINS = 8;
const SCOPED_DOMAINS = 6;

/** Every organisation's subscriptions: by type, catch-all, and one per sending domain. */
const SUBSCRIPTIONS: Array<{ events: string[]; domain?: number }> = [
  { events: ['message.*'] },
  { events: ['message.delivered'] },
  { events: ['message.bounced', 'message.complained'] },
  { events: ['message.opened', 'message.clicked'] },
  ...Array.from({ length: SCOPED_DOMAINS }, (_, domain) => ({ events: ['message.*'], domain })),
];

/** Events sent one per organisation before the load, to see the pipeline is up. */
const WARM_UP = ORGANIZATIONS;

const SERVICES: ServiceName[] = ['event-ingest', 'matcher', 'deliverer', 'subscription-api'];
/** A request to the API that takes longer than this counts as a hang. */
const CLIENT_TIMEOUT_MS = 5_000;
/** Load flows undisturbed this long between two faults. */
const PAUSE_MS = 3_000;
const POSTGRES_DOWN_MS = 10_000;
const SHUTDOWN_LIMIT_MS = 10_000;
/** The drain ends when no new delivery arrived for this long. */
const QUIET_MS = 90_000;
/** How long the pipeline may take to deliver the backlog a fault left before the next one. */
const CATCH_UP_MS = 180_000;
/** A request to the broker stays well under its 1 MB limit. */
const MAX_BATCH = 500;

const run = Date.now().toString(36);

/** Event `seq`, derived from its number alone, so the expected deliveries can be too. */
function eventAt(seq: number): {
  id: string;
  organization: number;
  type: EventType;
  domain: number;
} {
  return {
    id: `evt_crash_${run}_${seq}`,
    organization: seq % ORGANIZATIONS,
    type: TYPES[Math.floor(seq / ORGANIZATIONS) % TYPES.length]!,
    domain: Math.floor(seq / (ORGANIZATIONS * TYPES.length)) % DOMAINS,
  };
}

const domainName = (organization: number, domain: number) =>
  `d${domain}-o${organization}-${run}.example`;
const subscriptionPath = (organization: number, index: number) => `/o${organization}/s${index}`;

/** Whether a subscription takes an event, by the SPEC's rules, written out independently. */
function takes(subscription: (typeof SUBSCRIPTIONS)[number], event: ReturnType<typeof eventAt>) {
  const typeMatches =
    subscription.events.includes(event.type) ||
    subscription.events.some((e) => e.endsWith('.*') && event.type.startsWith(e.slice(0, -1)));
  return typeMatches && (subscription.domain === undefined || subscription.domain === event.domain);
}

/** The (endpoint, event) pairs event `seq` must reach. */
function* deliveriesOf(seq: number): Generator<{ path: string; eventId: string }> {
  const event = eventAt(seq);
  for (const [index, subscription] of SUBSCRIPTIONS.entries()) {
    if (takes(subscription, event))
      yield { path: subscriptionPath(event.organization, index), eventId: event.id };
  }
}

function* expectedDeliveries(): Generator<{ path: string; eventId: string }> {
  for (let seq = 0; seq < EVENTS; seq++) yield* deliveriesOf(seq);
}

/** `expectedBefore[n]`: how many deliveries events 0..n-1 make. */
const expectedBefore = [0];
for (let seq = 0; seq < EVENTS; seq++)
  expectedBefore.push(expectedBefore[seq]! + [...deliveriesOf(seq)].length);

/** A helper process of tools/infra (a broker, a database) that prints `ready <address>`. */
async function startInfra(
  tool: string,
  args: string[],
): Promise<{ address: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', `${REPO_ROOT}tools/infra/${tool}`, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /ready (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]!);
    });
    void exited.then(() => reject(new Error(`${tool} exited before it was ready`)));
  });
  return {
    address,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Probe {
  at: number;
  phase: string;
  /** The HTTP status, or what happened instead. */
  outcome: number | 'timeout' | 'unreachable';
  retryAfter: string | null;
  body: string;
}

describe('crashes and faults under load', () => {
  const dataDir = `${requireEnv('HOOKPOST_TEST_DIR')}/crash-${run}`;
  const receiver = new LedgerReceiver();
  let kafkaPorts: [number, number];
  let postgresPort: number;
  let kafka: Awaited<ReturnType<typeof startInfra>> | undefined;
  let postgres: Awaited<ReturnType<typeof startInfra>> | undefined;
  let pipeline: Pipeline;
  let producer: Producer;
  const organizations: Array<{ organizationId: string; apiKey: string }> = [];
  /** Set when the suite ends, so that its loops (producing, polling) end too. */
  let finished = false;

  const startKafka = async () => {
    kafka = await startInfra('kafka-run.ts', [`${dataDir}/kafka`, ...kafkaPorts.map(String)]);
  };
  const startPostgres = async () => {
    postgres = await startInfra('postgres-run.ts', [`${dataDir}/postgres`, String(postgresPort)]);
  };

  beforeAll(async () => {
    kafkaPorts = [await freePort(), await freePort()];
    postgresPort = await freePort();
    await Promise.all([startKafka(), startPostgres(), receiver.start()]);
    // The pipeline's own `brokers` names the run's shared broker: this suite uses kafka!.address.
    pipeline = await startPipeline({
      KAFKA_BROKERS: kafka!.address,
      DATABASE_URL: postgres!.address,
      // A failed attempt comes back within the drain, not after the default minute.
      RETRY_SCHEDULE: '5s,10s,30s',
    });
    producer = new Kafka({
      clientId: 'crash-suite',
      brokers: [kafka!.address],
      logLevel: logLevel.NOTHING,
    }).producer();
    await producer.connect();

    for (let o = 0; o < ORGANIZATIONS; o++) {
      const organization = await tenant(pipeline, `Crash ${o} ${run}`);
      organizations.push(organization);
      for (const [index, subscription] of SUBSCRIPTIONS.entries()) {
        const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, organization.apiKey, {
          url: `${receiver.url}${subscriptionPath(o, index)}`,
          events: subscription.events,
          ...(subscription.domain === undefined
            ? {}
            : { scope: { domains: [domainName(o, subscription.domain)] } }),
        });
        expect(created.status, JSON.stringify(created.json)).toBe(201);
      }
    }
    // The matcher's index holds every subscription, and one event per organisation went end
    // to end: every consumer has joined, every view is loaded.
    const subscriptions = ORGANIZATIONS * SUBSCRIPTIONS.length;
    const indexed = async () =>
      /^hookpost_matcher_subscriptions (\d+)/m.exec(
        await (await fetch(`http://127.0.0.1:${pipeline.services.matcher.port}/metrics`)).text(),
      )?.[1];
    for (let i = 0; i < 100 && (await indexed()) !== String(subscriptions); i++) await sleep(200);
    expect(await indexed()).toBe(String(subscriptions));
    await send(messagesFor(0, WARM_UP));
    const warmUp = expectedBefore[WARM_UP]!;
    const deadline = Date.now() + 60_000;
    while (receiver.pairs < warmUp && Date.now() < deadline) await sleep(200);
    expect(receiver.pairs).toBe(warmUp);
  }, 300_000);

  afterAll(async () => {
    finished = true;
    await producer?.disconnect();
    await pipeline?.stop();
    await receiver.stop();
    await kafka?.stop();
    await postgres?.stop();
  });

  function messagesFor(from: number, to: number): Message[] {
    const messages: Message[] = [];
    for (let seq = from; seq < to; seq++) {
      const event = eventAt(seq);
      const domain = domainName(event.organization, event.domain);
      const messageId = `<crash-${run}-${seq}@${domain}>`;
      messages.push({
        key: messageId,
        value: JSON.stringify({
          id: event.id,
          type: event.type,
          organization_id: organizations[event.organization]!.organizationId,
          occurred_at: new Date().toISOString(),
          data: {
            message_id: messageId,
            from: `news@${domain}`,
            to: `reader${seq % 997}@example.org`,
            subject: 'Crash suite',
          },
        }),
      });
    }
    return messages;
  }

  /**
   * Sends until the broker acknowledges: the producer's side of at-least-once. A send
   * whose acknowledgement was lost and is sent again makes a copy, which ingest drops.
   */
  async function send(messages: Message[]): Promise<void> {
    while (!finished) {
      try {
        await producer.send({ topic: 'mail-events', acks: -1, messages });
        return;
      } catch {
        await sleep(500);
      }
    }
  }

  /** Produces the events after the warm-up at RATE per second (late ones catch up when the broker is back). */
  async function produce(progress: { produced: number }): Promise<void> {
    const start = Date.now();
    let next = WARM_UP;
    while (next < EVENTS && !finished) {
      const due = Math.min(EVENTS, WARM_UP + Math.floor(((Date.now() - start) / 1_000) * RATE));
      if (due <= next) {
        await sleep(20);
        continue;
      }
      const to = Math.min(due, next + MAX_BATCH);
      await send(messagesFor(next, to));
      next = to;
      progress.produced = next;
    }
  }

  async function everyServiceReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await Promise.all(
        Object.values(pipeline.services).map((service) =>
          fetch(`http://127.0.0.1:${service.port}/health/ready`, {
            signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
          }).then(
            (response) => `${service.name}: ${response.status}`,
            () => `${service.name}: no answer`,
          ),
        ),
      );
      if (statuses.every((s) => s.endsWith(': 200'))) return;
      if (Date.now() > deadline)
        throw new Error(`not every service recovered within ${timeoutMs} ms: ${statuses}`);
      await sleep(500);
    }
  }

  it(
    `delivers all ${EVENTS} events at least once through kill -9, a broker restart, a database outage and SIGTERMs`,
    async () => {
      let phase = 'steady';
      // A probe is counted in the fault it overlapped: one that set out just before a kill
      // meets the refusal of the process going down, and belongs to that fault, not to the
      // steady time it started in.
      let phaseChanges = 0;
      let lastFault = '';
      const enter = (next: string) => {
        phase = next;
        phaseChanges += 1;
        if (next !== 'steady') lastFault = next;
      };
      const probes: Probe[] = [];
      let resent = 0;
      const apiKey = organizations[0]!.apiKey;
      const poll = (async () => {
        while (!finished) {
          const at = Date.now();
          const startPhase = phase;
          const changesAtStart = phaseChanges;
          const overlapped = () => (phaseChanges === changesAtStart ? startPhase : lastFault);
          try {
            const list = () =>
              fetch(`${pipeline.apiUrl}/v1/webhooks?limit=1`, {
                headers: { authorization: `Bearer ${apiKey}` },
                signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
              });
            // A kept-alive connection can be closed by the server just as the next request
            // goes out on it. Like any HTTP client (RFC 9110, 9.2.2), the probe sends this
            // idempotent GET again, once; a server that is down refuses the second one too.
            const response = await list().catch((error: unknown) => {
              if (!closedBeforeAnswer(error)) throw error;
              resent += 1;
              return list();
            });
            const body = await response.text();
            probes.push({
              at,
              phase: overlapped(),
              outcome: response.status,
              retryAfter: response.headers.get('retry-after'),
              body: response.status === 200 ? '' : body,
            });
          } catch (error) {
            const timedOut = (error as Error).name === 'TimeoutError';
            probes.push({
              at,
              phase: overlapped(),
              outcome: timedOut ? 'timeout' : 'unreachable',
              retryAfter: null,
              body: String((error as Error).cause ?? error),
            });
          }
          await sleep(250);
        }
      })();

      const shutdowns: Array<{ service: ServiceName; ms: number; clean: boolean }> = [];
      let databaseRecoveryMs = Infinity;
      const faults: Array<{ name: string; run: () => Promise<void> }> = [
        ...SERVICES.map((name) => ({
          name: `kill -9 ${name}`,
          run: async () => {
            await pipeline.restart(name, 'SIGKILL');
            await everyServiceReady(120_000);
          },
        })),
        {
          name: 'restart the Kafka broker',
          run: async () => {
            await kafka!.stop();
            await startKafka();
            await everyServiceReady(180_000);
          },
        },
        {
          name: 'stop Postgres for 10 s',
          run: async () => {
            await postgres!.stop();
            await sleep(POSTGRES_DOWN_MS);
            await startPostgres();
            const back = Date.now();
            // Recovery by itself: the API answers again without anyone restarting it.
            while (Date.now() - back < 60_000) {
              const probe = probes.at(-1);
              if (probe && probe.at > back && probe.outcome === 200) {
                databaseRecoveryMs = probe.at - back;
                break;
              }
              await sleep(100);
            }
            await everyServiceReady(120_000);
          },
        },
        ...SERVICES.map((name) => ({
          name: `SIGTERM ${name}`,
          run: async () => {
            const service = pipeline.services[name];
            const sent = Date.now();
            const exited = await Promise.race([
              service.stop('SIGTERM').then(() => true),
              sleep(3 * SHUTDOWN_LIMIT_MS).then(() => false),
            ]);
            shutdowns.push({
              service: name,
              ms: Date.now() - sent,
              // Nest re-raises the signal once shut down; a crash would exit with a code.
              clean: exited && service.process.signalCode === 'SIGTERM',
            });
            // Starts a fresh one (killing the old one first if it is still running).
            await pipeline.restart(name, 'SIGKILL');
            await everyServiceReady(120_000);
          },
        })),
      ];

      const progress = { produced: WARM_UP };
      let producing = true;
      const started = Date.now();
      const production = produce(progress).finally(() => (producing = false));
      const faultLog: Array<{ line: string; at: number }> = [];
      const seconds = (ms: number) => `${(ms / 1_000).toFixed(1)} s`;
      // Every fault once; then again, in turn, while events are still being produced. Each
      // one on a pipeline that has delivered the backlog of the one before.
      for (let cycle = 1; cycle === 1 || producing; cycle++) {
        for (const fault of faults) {
          if (cycle > 1 && !producing) break;
          await sleep(PAUSE_MS);
          const at = Date.now();
          const load = producing ? `at event ${progress.produced}` : 'after the load';
          enter(fault.name);
          await fault.run();
          enter('steady');
          const ready = Date.now();
          const backlog = expectedBefore[progress.produced]!;
          while (receiver.pairs < backlog && Date.now() - ready < CATCH_UP_MS) await sleep(200);
          const caughtUp =
            receiver.pairs >= backlog
              ? `caught up ${seconds(Date.now() - ready)} later`
              : `${backlog - receiver.pairs} deliveries still missing ${seconds(CATCH_UP_MS)} later`;
          faultLog.push({
            at,
            line: `  cycle ${cycle}: ${fault.name} (${load}): ready again in ${seconds(ready - at)}, ${caughtUp}`,
          });
        }
      }
      await production;
      const producedIn = Date.now() - started;

      const expected = expectedBefore[EVENTS]!;
      let last = receiver.pairs;
      let lastChange = Date.now();
      while (receiver.pairs < expected && Date.now() - lastChange < QUIET_MS) {
        await sleep(1_000);
        if (receiver.pairs !== last) [last, lastChange] = [receiver.pairs, Date.now()];
      }
      // Late redeliveries still count as duplicates.
      await sleep(2_000);
      finished = true;
      await poll;

      const ledger = receiver.ledger(expectedDeliveries());
      report(ledger, {
        producedIn,
        totalMs: Date.now() - started,
        faultLog,
        repeatedAt: receiver.repeatedAt,
        shutdowns,
        probes,
        resent,
        databaseRecoveryMs,
      });

      // Every check reports, so that one run shows everything that broke. No lost events,
      // and duplicates are rare redeliveries of the same message.
      expect.soft(ledger.expected).toBe(expected);
      expect.soft(ledger.missing, `missing, e.g. ${ledger.missingSample.join(', ')}`).toBe(0);
      expect.soft(ledger.unexpected).toBe(0);
      expect.soft(ledger.duplicatesWithAnotherWebhookId).toBe(0);
      expect.soft(ledger.duplicates / ledger.expected).toBeLessThan(0.01);

      // The API never hung and never failed with a 500, whatever was down.
      const summary = (p: Probe) => `${p.phase}: ${p.outcome} ${p.body.slice(0, 200)}`;
      expect.soft(probes.filter((p) => p.outcome === 'timeout').map(summary)).toEqual([]);
      expect
        .soft(
          probes
            .filter((p) => typeof p.outcome === 'number' && p.outcome >= 500 && p.outcome !== 503)
            .map(summary),
        )
        .toEqual([]);
      // Unreachable only while it was itself being restarted.
      expect
        .soft(
          probes
            .filter((p) => p.outcome === 'unreachable' && !p.phase.endsWith('subscription-api'))
            .map(summary),
        )
        .toEqual([]);
      // While its database was away: 503, a SPEC error body, and when to try again.
      const unavailable = probes.filter((p) => p.outcome === 503);
      expect
        .soft(unavailable.filter((p) => p.phase === 'stop Postgres for 10 s').length)
        .toBeGreaterThan(0);
      for (const probe of unavailable) {
        expect.soft(probe.retryAfter, summary(probe)).toMatch(/^[1-9]\d*$/);
        expect.soft(parsed(probe.body), summary(probe)).toEqual({
          error: { code: 'unavailable', message: expect.stringMatching(/database/), details: [] },
        });
      }
      // And it came back by itself, soon after the database did.
      expect.soft(databaseRecoveryMs).toBeLessThan(30_000);

      // Each service stopped cleanly within 10 s of SIGTERM, under load.
      expect.soft(new Set(shutdowns.map((s) => s.service))).toEqual(new Set(SERVICES));
      for (const shutdown of shutdowns) {
        expect.soft(shutdown, shutdown.service).toMatchObject({ clean: true });
        expect.soft(shutdown.ms, shutdown.service).toBeLessThan(SHUTDOWN_LIMIT_MS);
      }
    },
    (EVENTS / RATE) * 1_000 + 20 * 60_000,
  );
});

/** The connection closed under a request before any answer came (fetch wraps the code). */
function closedBeforeAnswer(error: unknown): boolean {
  const code = ((error as { cause?: { code?: string } }).cause ?? {}).code ?? '';
  return ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(code);
}

/** A body as JSON, or as the text it is when it is not JSON. */
function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function report(
  ledger: Ledger,
  facts: {
    producedIn: number;
    totalMs: number;
    faultLog: Array<{ line: string; at: number }>;
    repeatedAt: number[];
    shutdowns: Array<{ service: ServiceName; ms: number; clean: boolean }>;
    probes: Probe[];
    resent: number;
    databaseRecoveryMs: number;
  },
): void {
  const outcomes = new Map<string, number>();
  for (const probe of facts.probes)
    outcomes.set(String(probe.outcome), (outcomes.get(String(probe.outcome)) ?? 0) + 1);
  const share = ((100 * ledger.duplicates) / Math.max(1, ledger.expected)).toFixed(3);
  const lines = [
    '',
    `crash suite ledger: ${EVENTS} events at ${RATE}/s, ${ORGANIZATIONS} organisations x ${SUBSCRIPTIONS.length} subscriptions`,
    `  produced                 ${EVENTS} (in ${(facts.producedIn / 1_000).toFixed(0)} s)`,
    `  expected deliveries      ${ledger.expected}`,
    `  delivered                ${ledger.delivered}`,
    `  missing                  ${ledger.missing}`,
    `  duplicates               ${ledger.duplicates} (${share}%)`,
    `  duplicates, other id     ${ledger.duplicatesWithAnotherWebhookId}`,
    `  unexpected               ${ledger.unexpected}`,
    `faults (and the repeated deliveries that arrived after each):`,
    ...facts.faultLog.map(({ line, at }, i) => {
      const until = facts.faultLog[i + 1]?.at ?? Infinity;
      const repeated = facts.repeatedAt.filter((t) => t >= at && t < until).length;
      return `${line}; ${repeated} repeated`;
    }),
    `SIGTERM to exit: ${facts.shutdowns.map((s) => `${s.service} ${s.ms} ms${s.clean ? '' : ' (not clean)'}`).join(', ')}`,
    `API polls: ${[...outcomes].map(([outcome, n]) => `${outcome} x${n}`).join(', ')} (${facts.resent} sent again on a closed connection); back ${facts.databaseRecoveryMs} ms after Postgres`,
    `total ${(facts.totalMs / 1_000).toFixed(0)} s`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}
