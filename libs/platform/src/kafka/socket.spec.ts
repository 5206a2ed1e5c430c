import { createServer, Socket, type AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { describe, expect, it, vi } from 'vitest';
import { socketFactory } from './socket.js';

describe('socketFactory', () => {
  it('turns Nagle off (TCP_NODELAY) on the connections it opens, and keeps them alive', async () => {
    const server = createServer((peer) => peer.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
    const keepAlive = vi.spyOn(Socket.prototype, 'setKeepAlive');
    try {
      let connected!: () => void;
      const opened = new Promise<void>((resolve) => (connected = resolve));
      const socket = socketFactory({
        host: '127.0.0.1',
        port,
        ssl: null as unknown as object,
        onConnect: () => connected(),
      });
      await opened;
      expect(socket).not.toBeInstanceOf(TLSSocket);
      expect(noDelay.mock.contexts).toContain(socket);
      expect(noDelay.mock.calls[noDelay.mock.contexts.indexOf(socket)]).toEqual([true]);
      expect(keepAlive.mock.contexts).toContain(socket);
      socket.destroy();
    } finally {
      noDelay.mockRestore();
      keepAlive.mockRestore();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('speaks TLS when kafkajs asks for it, with options or with `true`', () => {
    for (const ssl of [true, { rejectUnauthorized: true }]) {
      const socket = socketFactory({
        host: 'localhost',
        port: 1,
        ssl: ssl as object,
        onConnect: () => undefined,
      });
      socket.on('error', () => undefined);
      expect(socket).toBeInstanceOf(TLSSocket);
      socket.destroy();
    }
  });
});
