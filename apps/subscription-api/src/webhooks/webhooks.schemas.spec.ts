import { describe, expect, it } from 'vitest';
import { createWebhookSchema, rotateSchema } from './webhooks.schemas.js';

const webhook = { url: 'https://hooks.example.com/in', events: ['message.delivered'] };

describe('a caller’s secret in a request', () => {
  it('is refused, on the secret field, when whsec_ is followed by what is not base64', () => {
    for (const [schema, body] of [
      [createWebhookSchema, { ...webhook, secret: 'whsec_!!!!!!!!!!!!!!!!' }],
      [rotateSchema, { secret: 'whsec_hello_world_2024_abc' }],
    ] as const) {
      const result = schema.safeParse(body);
      expect(result.success).toBe(false);
      expect(result.error!.issues).toEqual([
        expect.objectContaining({
          path: ['secret'],
          message: expect.stringMatching(/^after whsec_ must come base64/),
        }),
      ]);
    }
  });

  it('is taken when it is a whsec_ key of 16 bytes or more, or any other string of 16 characters', () => {
    const key = `whsec_${Buffer.alloc(16, 1).toString('base64')}`;
    expect(createWebhookSchema.safeParse({ ...webhook, secret: key }).success).toBe(true);
    expect(rotateSchema.safeParse({ secret: 'sixteen-chars-ok' }).success).toBe(true);
  });
});
