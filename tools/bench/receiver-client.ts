import { fork, type ChildProcess } from 'node:child_process';
import { ROOT } from '../infra/system.ts';
import type { Arrival } from './receiver.ts';

export interface ReceiverConnections {
  opened: number;
  closed: number;
  most_open: number;
}

/** The recording receiver (receiver.ts) in its own process, driven over IPC. */
export class Receiver {
  private readonly child: ChildProcess;
  readonly url: string;

  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
  }

  static async start(): Promise<Receiver> {
    // Forked tools take this process's Node flags (tools/run.sh's).
    const child = fork(`${ROOT}tools/bench/receiver.ts`, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve) =>
      child.once('message', (m: { port: number }) => resolve(m.port)),
    );
    return new Receiver(child, `http://127.0.0.1:${port}`);
  }

  private ask<T>(message: object, field: string): Promise<T> {
    return new Promise((resolve) => {
      const listen = (reply: Record<string, unknown>) => {
        if (!(field in reply)) return;
        this.child.off('message', listen);
        resolve(reply[field] as T);
      };
      this.child.on('message', listen);
      this.child.send(message);
    });
  }

  /** Requests recorded in this window, to paths starting with `prefix` if given. */
  count(prefix?: string): Promise<number> {
    return this.ask({ count: true, prefix }, 'count');
  }

  /** Everything that arrived since the last call. */
  take(): Promise<Arrival[]> {
    return this.ask({ take: true }, 'arrivals');
  }

  /**
   * Connections the receiver accepted and closed since the last call, and the most open
   * at once (counting those still open from before).
   */
  connections(): Promise<ReceiverConnections> {
    return this.ask({ connections: true }, 'connections');
  }

  get pid(): number {
    return this.child.pid!;
  }

  stop(): void {
    this.child.disconnect();
  }
}
