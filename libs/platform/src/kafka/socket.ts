import type { ISocketFactory } from 'kafkajs';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/**
 * kafkajs's own sockets leave Nagle's algorithm on: a request written while an earlier
 * one on the same connection is not yet acknowledged is held back until it is, and
 * kafkajs keeps several requests in flight per connection (produce requests, and a
 * consumer's commits and heartbeats beside its fetches). Kafka's Java client and the
 * broker both set TCP_NODELAY; so do these. Keep-alive as kafkajs sets it.
 */
export const socketFactory: ISocketFactory = ({ host, port, ssl, onConnect }): Socket => {
  // `ssl` is `true` (TLS with Node's defaults) or TLS options.
  const tlsOptions = typeof ssl === 'object' && ssl !== null ? ssl : {};
  const socket = ssl
    ? connectTls(
        { host, port, ...(isIP(host) ? {} : { servername: host }), ...tlsOptions },
        onConnect,
      )
    : connectTcp({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  return socket;
};
