import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** How often, once draining, connections that fell idle are closed. */
const SWEEP_MS = 100;

export interface KeepAliveDrain {
  /** From now on: no more keep-alive. Idempotent. */
  drain(): void;
}

/**
 * Ends HTTP keep-alive when a service shuts down. `server.close()` closes only the
 * connections idle at that moment: one that is serving a request then stays open after
 * its answer, for as long as its client keeps sending requests on it or until the
 * keep-alive timeout (65 s), and the shutdown waits on it until its deadline and exits
 * with an error. A load balancer or a polling client is such a client. Once `drain()` is
 * called, every answer not yet sent says `Connection: close` (Node closes the connection
 * after it), and connections are closed as soon as they fall idle. Until the server stops
 * listening, new connections are still served, one request each.
 */
export function keepAliveDrain(server: Server): KeepAliveDrain {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  const lastOnItsConnection = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  // Before the application's own listener, so that the header is set before it answers.
  server.prependListener('request', (_request: IncomingMessage, res: ServerResponse) => {
    if (draining) return lastOnItsConnection(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  return {
    drain() {
      if (draining) return;
      draining = true;
      for (const res of inFlight) lastOnItsConnection(res);
      inFlight.clear();
      server.closeIdleConnections();
      // An answer whose headers had gone out keeps its connection alive: close it once idle.
      const sweep = setInterval(() => server.closeIdleConnections(), SWEEP_MS).unref();
      server.once('close', () => clearInterval(sweep));
    },
  };
}
