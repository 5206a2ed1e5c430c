import { createSocket, type Socket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostResolver, type SystemLookup } from './host-resolver.js';

/**
 * A name server on the loopback: A and AAAA records for the names it has, NXDOMAIN or
 * SERVFAIL for those so listed, and no answer at all for `dead.example` names.
 */
type Zone = Record<string, { a?: string[]; aaaa?: string[]; rcode?: number }>;

const ZONE: Zone = {
  'public.example': { a: ['192.0.2.10'], aaaa: ['2001:db8::10'] },
  'v6only.example': { aaaa: ['2001:db8::11'] },
  'failing.example': { rcode: 2 },
};

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string?];
  const groups = (part?: string) => (part ? part.split(':') : []);
  const zeros = 8 - groups(head).length - groups(tail).length;
  const all = [
    ...groups(head),
    ...Array<string>(tail === undefined ? 0 : zeros).fill('0'),
    ...groups(tail),
  ];
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function answer(query: Buffer, zone: Zone): Buffer | undefined {
  let at = 12;
  const labels: string[] = [];
  while (query[at]! > 0) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString());
    at += query[at]! + 1;
  }
  const name = labels.join('.').toLowerCase();
  if (name.endsWith('dead.example')) return undefined;
  const type = query.readUInt16BE(at + 1);
  const question = query.subarray(12, at + 5);
  const entry = zone[name];
  const rdata =
    type === 1
      ? (entry?.a ?? []).map((a) => Buffer.from(a.split('.').map(Number)))
      : type === 28
        ? (entry?.aaaa ?? []).map(ipv6Bytes)
        : [];
  const rcode = entry === undefined ? 3 : (entry.rcode ?? 0);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rcode === 0 ? rdata.length : 0, 6);
  const records = (rcode === 0 ? rdata : []).map((data) => {
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(type, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(data.length, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, question, ...records]);
}

let server: Socket;
let port: number;

beforeAll(async () => {
  server = createSocket('udp4');
  server.on('message', (query, from) => {
    const reply = answer(query, ZONE);
    if (reply) server.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  port = server.address().port;
});

afterAll(() => server.close());

/** A resolver asking that name server, and a system resolver that records what it is asked. */
function resolverWith(system: SystemLookup, systemConcurrency = 2, timeoutMs = 1_000) {
  const client = new dns.Resolver({ timeout: 200, tries: 1 });
  client.setServers([`127.0.0.1:${port}`]);
  return hostResolver({ timeoutMs, systemConcurrency, dnsClient: client, systemLookup: system });
}

const loopback: SystemLookup = () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]);

describe('hostResolver', () => {
  it('takes the name servers’ answers, IPv4 first, without the system resolver', async () => {
    const asked: string[] = [];
    const resolve = resolverWith((host) => {
      asked.push(host);
      return loopback(host);
    });
    expect(await resolve('public.example')).toEqual([
      { address: '192.0.2.10', family: 4 },
      { address: '2001:db8::10', family: 6 },
    ]);
    expect(await resolve('v6only.example')).toEqual([{ address: '2001:db8::11', family: 6 }]);
    expect(asked).toEqual([]);
  });

  it('asks the system resolver about a name the name servers do not know (/etc/hosts, localhost)', async () => {
    const resolve = resolverWith(loopback);
    expect(await resolve('localhost')).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });

  it('gives up on names whose servers do not answer, or fail, without holding the system resolver', async () => {
    const asked: string[] = [];
    const resolve = resolverWith(
      (host) => {
        asked.push(host);
        return loopback(host);
      },
      1,
      600,
    );
    const started = Date.now();
    const dead = Array.from({ length: 20 }, (_, i) => resolve(`host${i}.dead.example`));
    for (const lookup of dead) await expect(lookup).rejects.toThrow(/ETIMEOUT|took over/);
    await expect(resolve('failing.example')).rejects.toThrow('ESERVFAIL');
    expect(Date.now() - started).toBeLessThan(2_000);
    // Meanwhile a name only the system knows still gets its answer.
    expect(await resolve('intranet')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(asked).toEqual(['intranet']);
  });

  it('runs at most `systemConcurrency` system lookups at once, and none whose caller gave up', async () => {
    let running = 0;
    let most = 0;
    const started: string[] = [];
    const resolve = resolverWith(
      async (host) => {
        started.push(host);
        most = Math.max(most, ++running);
        await sleep(host === 'slow' ? 1_500 : 20);
        running--;
        return [{ address: '10.0.0.1', family: 4 }];
      },
      2,
      1_000,
    );
    const quick = ['a', 'b', 'c', 'd'];
    await Promise.all(quick.map((host) => resolve(host)));
    expect(most).toBe(2);
    const slow = [resolve('slow'), resolve('slow')];
    const queued = resolve('queued');
    for (const lookup of [...slow, queued]) await expect(lookup).rejects.toThrow('took over');
    await sleep(600);
    expect(started).toEqual([...quick, 'slow', 'slow']);
  });
});
