import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDebianPackage, ROOT, say } from './system.ts';

/**
 * A single-node Apache Kafka (KRaft: broker and controller in one JVM), assembled from
 * its Maven Central jars, for `npm start` and `npm test` on machines without Docker or a
 * Kafka download (ADR 0002).
 */

export interface KafkaOptions {
  dataDir: string;
  port?: number;
  controllerPort?: number;
  partitions?: number;
}

export interface RunningKafka {
  brokers: string;
  pid: number;
  stop(): Promise<void>;
}

const POM = `${ROOT}tools/kafka/pom.xml`;
const LOG4J_CONFIG = `${ROOT}tools/kafka/log4j2.properties`;

function kafkaVersion(): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!match) throw new Error(`no kafka.version in ${POM}`);
  return match[1]!;
}

function javaMajor(): number {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error) return 0;
  const match = /version "(\d+)/.exec(result.stderr);
  return match ? Number(match[1]) : 0;
}

/** The broker's jars under .tools/, copied once from Maven Central (the marker says the copy finished). */
function ensureJars(): string {
  if (javaMajor() < 17) ensureDebianPackage('java', 'default-jre-headless');
  if (javaMajor() < 17) throw new Error('Kafka needs Java 17 or newer: install a JDK or JRE 17+');
  const libs = `${ROOT}.tools/kafka-${kafkaVersion()}/libs`;
  const marker = `${libs}/.complete`;
  if (existsSync(marker)) return libs;
  ensureDebianPackage('mvn', 'maven');
  say(`assembling Apache Kafka ${kafkaVersion()} from Maven Central (once)`);
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(libs, { recursive: true });
  const result = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      POM,
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (result.status !== 0)
    throw new Error('could not fetch the Kafka jars with Maven (see its output above)');
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

function java(libs: string, logDir: string, args: string[]) {
  return [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    `-Dkafka.logs.dir=${logDir}`,
    '-cp',
    `${libs}/*`,
    ...args,
  ];
}

function serverProperties(
  dataDir: string,
  port: number,
  controllerPort: number,
  partitions: number,
): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}/logs`,
    // One node: every internal topic has a single replica, or consumers wait forever.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    `num.partitions=${partitions}`,
    'auto.create.topics.enable=false',
    'log.retention.hours=24',
    'log.segment.bytes=67108864',
    // One thread to read the sockets and one to handle requests (Kafka's defaults are 3 and
    // 8): on a small machine shared with the services, more threads only take turns on the
    // same cores. With 1 and 1 the broker used a tenth less CPU per delivery than with 2
    // and 4 (docs/performance.md). A fetch waiting for data does not hold the handler.
    'num.network.threads=1',
    'num.io.threads=1',
    // The log cleaner (compacted topics: subscription state, consumer offsets) holds its
    // dedupe buffer for the broker's life: 128 MiB by default, over half the heap in use,
    // so that G1 ran a concurrent cycle, with its remark pause, every few seconds. 16 MiB
    // holds about 600,000 keys a pass (24 bytes each, 90% full): more than a local broker
    // ever holds.
    'log.cleaner.dedupe.buffer.size=16777216',
    '',
  ].join('\n');
}

/** Port is accepting connections. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startKafka(options: KafkaOptions): Promise<RunningKafka> {
  const port = options.port ?? 9092;
  const controllerPort = options.controllerPort ?? 9093;
  const libs = ensureJars();
  const { dataDir } = options;
  mkdirSync(dataDir, { recursive: true });
  const config = `${dataDir}/server.properties`;
  writeFileSync(config, serverProperties(dataDir, port, controllerPort, options.partitions ?? 4));
  if (await probe(port)) throw new Error(`port ${port} is in use: is another broker running?`);

  // Format the storage once; a later start reuses it (and its topics and offsets).
  if (!existsSync(`${dataDir}/logs/meta.properties`)) {
    const clusterId = randomBytes(16).toString('base64url');
    const format = spawnSync(
      'java',
      // `--cluster-id=<id>`: an id may begin with '-', which as a separate argument would be
      // taken for an option.
      java(libs, dataDir, [
        'kafka.tools.StorageTool',
        'format',
        `--cluster-id=${clusterId}`,
        '--config',
        config,
      ]),
      {
        encoding: 'utf8',
      },
    );
    if (format.status !== 0)
      throw new Error(`formatting Kafka storage failed: ${format.stderr || format.stdout}`);
  }

  const out = openSync(`${dataDir}/broker.out`, 'a');
  // The broker's collection pauses, with the wall time, to set beside the services' stalls.
  const gcLog = `-Xlog:gc:file=${dataDir}/gc.log:time,uptime`;
  const broker = spawn('java', [gcLog, ...java(libs, dataDir, ['kafka.Kafka', config])], {
    stdio: ['ignore', out, out],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) =>
    broker.once('exit', (code) => resolve(code)),
  );
  // If we die without stopping it, it must not outlive us.
  const killOnExit = () => {
    try {
      process.kill(broker.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.on('exit', killOnExit);

  const deadline = Date.now() + 120_000;
  let gone = false;
  void exited.then(() => (gone = true));
  while (!(await probe(port)) || !brokerStarted(dataDir)) {
    if (gone || Date.now() > deadline) {
      killOnExit();
      throw new Error(
        `Kafka did not start: ${tail(`${dataDir}/server.log`) || tail(`${dataDir}/broker.out`)}`,
      );
    }
    await sleep(200);
  }
  return {
    brokers: `127.0.0.1:${port}`,
    pid: broker.pid!,
    async stop() {
      process.off('exit', killOnExit);
      if (gone) return;
      broker.kill('SIGTERM');
      const timer = setTimeout(() => broker.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function brokerStarted(logDir: string): boolean {
  const log = `${logDir}/server.log`;
  return existsSync(log) && readFileSync(log, 'utf8').includes('Kafka Server started');
}

function tail(file: string): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
}
