import type { SubscriptionEvent } from '@hookpost/contracts';
import { describe, expect, it } from 'vitest';
import {
  decide,
  replay,
  signingSecrets,
  SubscriptionError,
  type CreateCommand,
  type SubscriptionCommand,
} from './subscription.js';

const now = new Date('2026-03-01T12:00:00.000Z');
const create: CreateCommand = {
  type: 'create',
  subscriptionId: 'wh_1',
  organizationId: 'org_1',
  url: 'https://example.com/hook',
  events: ['message.delivered'],
  scope: { domains: [], mailboxes: [] },
  headers: {},
  format: 'standard',
  description: null,
  secret: 'v1.k0.iv.ct.tag',
};

/** given(events).when(command).then(events) */
function given(history: SubscriptionEvent[]) {
  const state = replay(history);
  return {
    when: (command: SubscriptionCommand) => ({
      then: (expected: Array<Partial<SubscriptionEvent>>) =>
        expect(decide(command, state, now)).toEqual(
          expected.map((e) => expect.objectContaining(e)),
        ),
      thenFails: (code: string) => {
        try {
          decide(command, state, now);
          expect.unreachable();
        } catch (error) {
          expect(error).toBeInstanceOf(SubscriptionError);
          expect((error as SubscriptionError).code).toBe(code);
        }
      },
    }),
  };
}

const created = decide(create, undefined, now);

describe('subscription decider', () => {
  it('creates version 1', () => {
    given([])
      .when(create)
      .then([{ type: 'subscription.created', version: 1, subscriptionId: 'wh_1' }]);
    expect(replay(created)).toMatchObject({
      status: 'active',
      version: 1,
      url: create.url,
      deleted: false,
    });
  });

  it('refuses to create twice', () => given(created).when(create).thenFails('already_exists'));

  it('updates only what changed, and nothing when nothing did', () => {
    given(created)
      .when({ type: 'update', changes: { url: 'https://example.org/x', description: undefined } })
      .then([{ type: 'subscription.updated', version: 2, data: { url: 'https://example.org/x' } }]);
    given(created).when({ type: 'update', changes: {} }).then([]);
  });

  it('pauses, resumes, and is idempotent about it', () => {
    const paused = [...created, ...decide({ type: 'pause' }, replay(created), now)];
    expect(replay(paused)?.status).toBe('paused');
    given(paused).when({ type: 'pause' }).then([]);
    given(paused)
      .when({ type: 'resume' })
      .then([{ type: 'subscription.status_changed', data: { status: 'active', reason: 'api' } }]);
  });

  it('marks failed only an active subscription, and resume clears it', () => {
    const failed = [...created, ...decide({ type: 'mark_failed' }, replay(created), now)];
    expect(replay(failed)?.status).toBe('failed');
    const paused = [...created, ...decide({ type: 'pause' }, replay(created), now)];
    given(paused).when({ type: 'mark_failed' }).then([]);
    given(failed)
      .when({ type: 'resume' })
      .then([{ data: { status: 'active', reason: 'api' } }]);
  });

  it('rotates the secret, keeping the old one signing until it expires', () => {
    const rotated = [
      ...created,
      ...decide(
        {
          type: 'rotate_secret',
          secret: 'v1.k0.new',
          previousSecretExpiresAt: '2026-03-02T12:00:00.000Z',
        },
        replay(created),
        now,
      ),
    ];
    const state = replay(rotated)!;
    expect(signingSecrets(state, now)).toEqual(['v1.k0.new', create.secret]);
    expect(signingSecrets(state, new Date('2026-03-02T12:00:01.000Z'))).toEqual(['v1.k0.new']);
  });

  it("re-encrypts both secrets under a new key, keeping the previous one's expiry", () => {
    const rotated = [
      ...created,
      ...decide(
        {
          type: 'rotate_secret',
          secret: 'v1.k0.new',
          previousSecretExpiresAt: '2026-03-02T12:00:00.000Z',
        },
        replay(created),
        now,
      ),
    ];
    given(rotated)
      .when({ type: 'reencrypt_secrets', secret: 'v1.k1.new', previousSecret: 'v1.k1.old' })
      .then([
        {
          type: 'subscription.secrets_reencrypted',
          version: 3,
          data: { secret: 'v1.k1.new', previousSecret: 'v1.k1.old' },
        },
      ]);
    const state = replay([
      ...rotated,
      ...decide(
        { type: 'reencrypt_secrets', secret: 'v1.k1.new', previousSecret: 'v1.k1.old' },
        replay(rotated),
        now,
      ),
    ])!;
    expect(state.secret).toBe('v1.k1.new');
    expect(state.previousSecret).toEqual({
      secret: 'v1.k1.old',
      expiresAt: '2026-03-02T12:00:00.000Z',
    });
  });

  it('deletes, after which every command is refused as not found', () => {
    const deleted = [...created, ...decide({ type: 'delete' }, replay(created), now)];
    expect(replay(deleted)?.deleted).toBe(true);
    given(deleted).when({ type: 'pause' }).thenFails('not_found');
    given([]).when({ type: 'delete' }).thenFails('not_found');
  });
});
