import { startKafka } from './kafka.ts';

/**
 * A single-node broker as its own process, for tests that stop and start Kafka on
 * purpose: `node tools/infra/kafka-run.ts <dataDir> <port> <controllerPort>`. Prints
 * `ready <brokers>` once it takes connections; SIGTERM stops the broker, then exits.
 */
const [dataDir, port, controllerPort] = process.argv.slice(2);
if (!dataDir || !port || !controllerPort) {
  process.stderr.write('usage: kafka-run.ts <dataDir> <port> <controllerPort>\n');
  process.exit(64);
}
const kafka = await startKafka({
  dataDir,
  port: Number(port),
  controllerPort: Number(controllerPort),
});
process.stdout.write(`ready ${kafka.brokers}\n`);
process.once('SIGTERM', () => {
  void kafka.stop().then(() => process.exit(0));
});
setInterval(() => undefined, 1 << 30);
