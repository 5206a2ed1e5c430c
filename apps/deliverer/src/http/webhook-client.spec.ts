import { parseAllowedNetworks, resolveAndCheck, type Resolver } from '@hookpost/domain';
import { RecordingReceiver } from '@hookpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookClient } from './webhook-client.js';

/**
 * The SSRF defence at connect time, against a real local HTTP server: the deliverer
 * connects only to addresses it checked itself, whatever a resolver said earlier.
 */
describe('WebhookClient at connect time', () => {
  const receiver = new RecordingReceiver();
  let port: number;
  const strict = { allowHttp: true, allowedNetworks: [] };
  const loopbackAllowed = { allowHttp: true, allowedNetworks: parseAllowedNetworks('127.0.0.0/8') };
  const post = (client: WebhookClient, host: string, path: string) =>
    client.post({
      url: `http://${host}:${port}${path}`,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

  beforeAll(async () => {
    await receiver.start();
    port = Number(new URL(receiver.url).port);
  });
  afterAll(() => receiver.stop());

  it('refuses a hostname that resolves to a private address, without sending anything', async () => {
    const client = new WebhookClient(strict, 2_000, () =>
      Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    );
    const result = await post(client, 'hooks.customer.example', '/private-name');
    expect(result).toMatchObject({ kind: 'error' });
    expect(result.kind === 'error' && result.error).toMatch(/not allowed/);
    expect(receiver.requests.filter((r) => r.path === '/private-name')).toHaveLength(0);
    await client.close();
  });

  it('refuses when the answer changes to a private address after the check at save time', async () => {
    let calls = 0;
    // DNS rebinding: public when the API checks, loopback when the deliverer connects.
    const rebinding: Resolver = () =>
      Promise.resolve([{ address: calls++ === 0 ? '93.184.215.14' : '127.0.0.1', family: 4 }]);
    await expect(resolveAndCheck('rebind.example', strict, rebinding)).resolves.toHaveLength(1);
    const client = new WebhookClient(strict, 2_000, rebinding);
    const result = await post(client, 'rebind.example', '/rebind');
    expect(result.kind).toBe('error');
    expect(receiver.requests.filter((r) => r.path === '/rebind')).toHaveLength(0);
    await client.close();
  });

  it('refuses IP literals in every spelling before connecting', async () => {
    const client = new WebhookClient(strict, 2_000);
    for (const host of [
      '127.0.0.1',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '[::ffff:127.0.0.1]',
      '[::1]',
      '0.0.0.0',
    ]) {
      const result = await post(client, host, '/literal');
      expect(result, host).toMatchObject({ kind: 'error' });
    }
    expect(receiver.requests.filter((r) => r.path === '/literal')).toHaveLength(0);
    await client.close();
  });

  it('connects to an allowed network, to the address it checked', async () => {
    const client = new WebhookClient(loopbackAllowed, 2_000, () =>
      Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    );
    const result = await post(client, 'hooks.customer.example', '/allowed');
    expect(result).toMatchObject({ kind: 'response', status: 200 });
    expect(receiver.requests.filter((r) => r.path === '/allowed')).toHaveLength(1);
    await client.close();
  });

  it('does not follow a redirect, even to an allowed address', async () => {
    receiver.respondWith((request) =>
      request.path === '/redirect'
        ? { status: 307, headers: { location: `http://127.0.0.1:${port}/landed` } }
        : { status: 200 },
    );
    const client = new WebhookClient(loopbackAllowed, 2_000);
    const result = await post(client, '127.0.0.1', '/redirect');
    expect(result).toMatchObject({ kind: 'response', status: 307 });
    expect(receiver.requests.filter((r) => r.path === '/landed')).toHaveLength(0);
    await client.close();
  });

  it('times out a receiver that never answers', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 5_000 }));
    const client = new WebhookClient(loopbackAllowed, 300);
    const result = await post(client, '127.0.0.1', '/hang');
    expect(result).toMatchObject({ kind: 'error', error: 'timeout' });
    expect(result.durationMs).toBeLessThan(2_000);
    await client.close();
  });
});
