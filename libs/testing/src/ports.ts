/*
 * Free ports for services, brokers and databases started by tests, the local runner and
 * the benchmark. Only node: imports, so that the tools under tools/ can import this file
 * by path.
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * A port free right now on every address, below the kernel's range for outgoing
 * connections (`ip_local_port_range`, 32768 up by default). A port the kernel hands a
 * throwaway listener comes from that range, and between its close and the service's
 * bind, a client's outgoing connection (to Kafka, Postgres) could take it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + randomInt(22_000);
    // Free until its taker binds it: two calls before then must not get the same one.
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
    handedOut.delete(port);
  }
}

/** Every port this process was given, so that it is never given one twice. */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}
