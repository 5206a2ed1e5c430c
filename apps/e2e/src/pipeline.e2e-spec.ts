import {
  genericBounced,
  genericDelivered,
  paubox,
  postalFailed,
  postalSent,
  RecordingReceiver,
  robotomailComplaint,
  standardWebhookHeaders,
} from '@hookpost/testing';
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, kcatConsume, kcatProduce, startPipeline, type Pipeline } from './pipeline.js';

/**
 * The walking skeleton, end to end: a subscription made over HTTP, an event produced to
 * `mail-events` by kcat, a signed POST to a real HTTP receiver.
 */
describe('pipeline end to end', () => {
  let pipeline: Pipeline;
  const receiver = new RecordingReceiver();

  beforeAll(async () => {
    await receiver.start();
    pipeline = await startPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
    await receiver.stop();
  });

  it('delivers a subscribed event, signed, and nothing else', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Acme Mail',
      domains: ['acme.example'],
    });
    expect(org.status).toBe(201);
    const organizationId = org.json.id as string;
    expect(organizationId).toMatch(/^org_/);

    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${organizationId}/api-keys`,
      pipeline.adminToken,
      {},
    );
    expect(key.status).toBe(201);
    const apiKey = key.json.key as string;

    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}/hooks/acme`,
      events: ['delivered'],
      description: 'e2e',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      events: ['message.delivered'],
      active: true,
      status: 'active',
      version: 1,
    });
    const secret = created.json.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const webhookId = created.json.id as string;

    const fetched = await http('GET', `${pipeline.apiUrl}/v1/webhooks/${webhookId}`, apiKey);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('etag')).toBe('"1"');
    expect(fetched.json.secret).toBeUndefined();

    const occurredAt = new Date().toISOString();
    const bounced = {
      id: 'evt_e2e_bounced_0001',
      type: 'message.bounced',
      organization_id: organizationId,
      occurred_at: occurredAt,
      data: {
        message_id: 'msg-e2e-1',
        from: 'news@acme.example',
        to: 'ann@example.org',
        bounce_type: 'hard',
      },
    };
    const delivered = {
      ...bounced,
      id: 'evt_e2e_delivered_0001',
      type: 'message.delivered',
      data: {
        message_id: 'msg-e2e-1',
        from: 'news@acme.example',
        to: 'ann@example.org',
        subject: 'Hello',
      },
    };
    const producedAt = Date.now();
    await kcatProduce(pipeline.brokers, 'mail-events', [
      { key: 'msg-e2e-1', value: JSON.stringify(bounced) },
      { key: 'msg-e2e-1', value: JSON.stringify(delivered) },
    ]);

    const [request] = await receiver.waitFor((r) => r.path === '/hooks/acme', 1, 20_000);
    expect(request!.receivedAt - producedAt).toBeLessThan(10_000);

    // Signed as the Standard Webhooks verifier expects, and as seed 002's recipe computes.
    const verified = new Webhook(secret).verify(request!.body, standardWebhookHeaders(request!));
    expect(verified).toEqual({
      id: delivered.id,
      type: 'message.delivered',
      timestamp: occurredAt,
      data: delivered.data,
    });
    const expectedHex = createHmac('sha256', secret)
      .update(JSON.stringify(JSON.parse(request!.body)))
      .digest('hex');
    expect(request!.headers['x-webhook-signature']).toBe(`sha256=${expectedHex}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['user-agent']).toMatch(/^Hookpost\/\d+\.\d+\.\d+$/);
    expect(request!.headers['webhook-id']).toMatch(/^del_/);

    // The bounced event went first on the same partition; give it time to show up if it were sent.
    await sleep(2_000);
    expect(receiver.requests.filter((r) => r.path === '/hooks/acme')).toHaveLength(1);
    expect(JSON.parse(receiver.requests[0]!.body).type).toBe('message.delivered');

    // Neither the signing secret nor the API key was ever written to a service log.
    for (const file of readdirSync(pipeline.logDir)) {
      const log = readFileSync(`${pipeline.logDir}/${file}`, 'utf8');
      expect(log).not.toContain(secret);
      expect(log).not.toContain(secret.slice('whsec_'.length));
      expect(log).not.toContain(apiKey);
    }
  });

  it('accepts every seed format, finding the organisation by sending domain or header', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Seed Formats Inc',
      domains: ['yourdomain.com', 'fromdomain.com', 'xxxxxxx.com'],
    });
    expect(org.status).toBe(201);
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${org.json.id}/api-keys`,
      pipeline.adminToken,
    );
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, key.json.key as string, {
      url: `${receiver.url}/hooks/formats`,
      events: ['*'],
    });
    expect(created.status).toBe(201);
    const headerOnly = {
      ...genericDelivered,
      id: 'evt_header_only',
      data: { ...genericDelivered.data, from: 'a@unregistered.example' },
    };
    await kcatProduce(pipeline.brokers, 'mail-events', [
      { key: 'paubox', value: JSON.stringify(paubox) },
      { key: 'postal-1', value: JSON.stringify(postalSent) },
      { key: 'postal-2', value: JSON.stringify(postalFailed) },
      { key: 'generic-1', value: JSON.stringify(genericDelivered) },
      { key: 'generic-2', value: JSON.stringify(genericBounced) },
      { key: 'robotomail', value: JSON.stringify(robotomailComplaint) },
      {
        key: 'header',
        value: JSON.stringify(headerOnly),
        headers: { 'organization-id': org.json.id as string },
      },
    ]);
    const requests = await receiver.waitFor((r) => r.path === '/hooks/formats', 7, 20_000);
    const types = requests.map((r) => (JSON.parse(r.body) as { type: string }).type).sort();
    expect(types).toEqual([
      'message.bounced',
      'message.bounced',
      'message.bounced',
      'message.complained',
      'message.delivered',
      'message.delivered',
      'message.delivered',
    ]);
  });

  it('dead-letters what it cannot accept, with the reason, and keeps delivering', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'DLQ Ltd',
    });
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${org.json.id}/api-keys`,
      pipeline.adminToken,
    );
    const created = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, key.json.key as string, {
      url: `${receiver.url}/hooks/dlq`,
      events: ['message.*'],
    });
    expect(created.status).toBe(201);
    const good = (id: string) =>
      JSON.stringify({
        id,
        type: 'message.opened',
        organization_id: org.json.id,
        occurred_at: new Date().toISOString(),
        data: { message_id: `m-${id}` },
      });
    await kcatProduce(pipeline.brokers, 'mail-events', [
      { key: 'dlq-1', value: good('evt_dlq_before_0001') },
      { key: 'dlq-1', value: '{"this is": not json' },
      { key: 'dlq-1', value: JSON.stringify({ hello: 'world' }) },
      {
        key: 'dlq-1',
        value: good('evt_dlq_unknown_type').replace('message.opened', 'message.exploded'),
      },
      {
        key: 'dlq-1',
        value: good('evt_dlq_no_org_0001').replace(`"organization_id":"${org.json.id}",`, ''),
      },
      { key: 'dlq-1', value: good('evt_dlq_after_0001') },
    ]);
    const delivered = await receiver.waitFor((r) => r.path === '/hooks/dlq', 2, 20_000);
    expect(delivered.map((r) => JSON.parse(r.body).id).sort()).toEqual([
      'evt_dlq_after_0001',
      'evt_dlq_before_0001',
    ]);

    const deadLetters = kcatConsume(pipeline.brokers, 'hookpost.mail-events.dlq.v1').filter(
      (m) => m.key === 'dlq-1',
    );
    expect(deadLetters.map((m) => m.headers['hookpost-reject-reason'])).toEqual([
      'not_json',
      'unknown_shape',
      'unknown_type',
      'missing_organization',
    ]);
    // The original bytes, unchanged, and where they came from.
    expect(deadLetters[0]!.value).toBe('{"this is": not json');
    expect(deadLetters[0]!.headers['hookpost-source-topic']).toBe('mail-events');
  });

  it('answers bad input with a clear error naming the field', async () => {
    const org = await http('POST', `${pipeline.apiUrl}/v1/organizations`, pipeline.adminToken, {
      name: 'Bad Input Ltd',
    });
    const key = await http(
      'POST',
      `${pipeline.apiUrl}/v1/organizations/${org.json.id}/api-keys`,
      pipeline.adminToken,
    );
    const apiKey = key.json.key as string;

    const unauthorised = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, 'hpk_not_a_key', {
      url: receiver.url,
      events: ['delivered'],
    });
    expect(unauthorised.status).toBe(401);
    expect(unauthorised.json).toMatchObject({ error: { code: 'unauthorized' } });

    const badEvent = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: `${receiver.url}/x`,
      events: ['message.exploded'],
    });
    expect(badEvent.status).toBe(422);
    expect(badEvent.json).toMatchObject({
      error: { code: 'invalid_events', details: [expect.objectContaining({ field: 'events' })] },
    });

    const privateUrl = await http('POST', `${pipeline.apiUrl}/v1/webhooks`, apiKey, {
      url: 'http://10.0.0.1/hook',
      events: ['delivered'],
    });
    expect(privateUrl.status).toBe(422);
    expect(privateUrl.json).toMatchObject({
      error: { code: 'invalid_url', details: [expect.objectContaining({ field: 'url' })] },
    });

    const customerOnAdminRoute = await http('POST', `${pipeline.apiUrl}/v1/organizations`, apiKey, {
      name: 'x',
    });
    expect(customerOnAdminRoute.status).toBe(401);

    const malformed = await fetch(`${pipeline.apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"url": ',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'invalid_json' } });

    const foreign = await http(
      'GET',
      `${pipeline.apiUrl}/v1/webhooks/wh_01JD0000000000000000000000`,
      apiKey,
    );
    expect(foreign.status).toBe(404);
  });
});
