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
  rateLimit: null,
  metadata: {},
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
    // The same values again change nothing, so make no new version.
    given(created)
      .when({
        type: 'update',
        changes: { url: create.url, scope: { domains: [], mailboxes: [] }, headers: {} },
      })
      .then([]);
    given(created)
      .when({ type: 'update', changes: { url: create.url, events: ['message.bounced'] } })
      .then([{ data: { events: ['message.bounced'] } }]);
  });

  it('sets and removes a rate limit, and takes none (nor metadata) for a subscription from before they existed', () => {
    given(created)
      .when({ type: 'update', changes: { rateLimit: 20 } })
      .then([{ type: 'subscription.updated', data: { rateLimit: 20 } }]);
    const limited = [
      ...created,
      ...decide({ type: 'update', changes: { rateLimit: 20 } }, replay(created), now),
    ];
    expect(replay(limited)?.rateLimit).toBe(20);
    given(limited)
      .when({ type: 'update', changes: { rateLimit: null } })
      .then([{ data: { rateLimit: null } }]);
    // Written before rate limits and metadata existed: no fields, which is no limit and no
    // metadata, so null and {} change nothing.
    const {
      rateLimit: _,
      metadata: __,
      ...older
    } = created[0]!.data as Extract<SubscriptionEvent, { type: 'subscription.created' }>['data'];
    const before = [{ ...created[0]!, data: older }] as SubscriptionEvent[];
    expect(replay(before)).not.toHaveProperty('rateLimit');
    given(before)
      .when({ type: 'update', changes: { rateLimit: null } })
      .then([]);
    expect(replay(before)).not.toHaveProperty('metadata');
    given(before)
      .when({ type: 'update', changes: { metadata: {} } })
      .then([]);
  });

  it('pauses, resumes, and is idempotent about it', () => {
    const paused = [...created, ...decide({ type: 'pause' }, replay(created), now)];
    expect(replay(paused)?.status).toBe('paused');
    given(paused).when({ type: 'pause' }).then([]);
    given(paused)
      .when({ type: 'resume' })
      .then([{ type: 'subscription.status_changed', data: { status: 'active', reason: 'api' } }]);
  });

  const markFailed = { type: 'mark_failed', afterFailures: 10 } as const;
  const failing = { consecutiveFailures: 10 };

  it('marks failed only an active subscription, and resume clears it', () => {
    const failed = [...created, ...decide(markFailed, replay(created), now, failing)];
    expect(replay(failed)?.status).toBe('failed');
    expect(failed.at(-1)).toMatchObject({ data: { status: 'failed', reason: 'auto_pause' } });
    const paused = [...created, ...decide({ type: 'pause' }, replay(created), now)];
    expect(decide(markFailed, replay(paused), now, failing)).toEqual([]);
    given(failed)
      .when({ type: 'resume' })
      .then([{ data: { status: 'active', reason: 'api' } }]);
  });

  it('marks failed only while the streak, as it stands, reaches the threshold', () => {
    // Failed, resumed, and a command from failures counted before the resume: the resume
    // reset the streak, and stands.
    const failed = [...created, ...decide(markFailed, replay(created), now, failing)];
    const resumed = [...failed, ...decide({ type: 'resume' }, replay(failed), now)];
    expect(replay(resumed)?.status).toBe('active');
    expect(decide(markFailed, replay(resumed), now, { consecutiveFailures: 0 })).toEqual([]);
    expect(decide(markFailed, replay(created), now, { consecutiveFailures: 9 })).toEqual([]);
    expect(decide(markFailed, replay(created), now)).toEqual([]);
    // Failing as many times again after the resume: marked failed again.
    expect(decide(markFailed, replay(resumed), now, { consecutiveFailures: 11 })).toEqual([
      expect.objectContaining({ data: { status: 'failed', reason: 'auto_pause' } }),
    ]);
  });

  it('disables for a 410 answered since the subscription last changed, not for an older one', () => {
    const later = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
    const disable = (at: Date) => ({ type: 'disable', answeredAt: at.toISOString() }) as const;
    const disabled = [...created, ...decide(disable(later(1)), replay(created), later(2))];
    expect(replay(disabled)?.status).toBe('disabled');
    expect(disabled.at(-1)).toMatchObject({ data: { status: 'disabled', reason: 'gone' } });
    // Resumed at minute 3; a 410 of minute 2 logged after that is stale, and the resume
    // stands. One answered after the resume disables it again.
    const resumed = [...disabled, ...decide({ type: 'resume' }, replay(disabled), later(3))];
    expect(decide(disable(later(2)), replay(resumed), later(4))).toEqual([]);
    expect(decide(disable(later(5)), replay(resumed), later(6))).toEqual([
      expect.objectContaining({ data: { status: 'disabled', reason: 'gone' } }),
    ]);
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

  /** Rotations, each at its hour after `now`, each replaced secret signing for 24 h. */
  function rotations(count: number): SubscriptionEvent[] {
    const history = [...created];
    for (let i = 1; i <= count; i++) {
      const at = new Date(now.getTime() + i * HOUR);
      history.push(
        ...decide(
          {
            type: 'rotate_secret',
            secret: `v1.k0.s${i}`,
            previousSecretExpiresAt: new Date(at.getTime() + 24 * HOUR).toISOString(),
          },
          replay(history),
          at,
        ),
      );
    }
    return history;
  }
  const HOUR = 3_600_000;
  const hoursLater = (hours: number) => new Date(now.getTime() + hours * HOUR);

  it('keeps every replaced secret signing until its own expiry, however soon the next rotation', () => {
    const state = replay(rotations(2))!;
    expect(signingSecrets(state, hoursLater(3))).toEqual(['v1.k0.s2', 'v1.k0.s1', create.secret]);
    // The first secret was replaced at hour 1, the second at hour 2.
    expect(signingSecrets(state, hoursLater(25.5))).toEqual(['v1.k0.s2', 'v1.k0.s1']);
    expect(signingSecrets(state, hoursLater(26.5))).toEqual(['v1.k0.s2']);
    // A rotation after they expired keeps none of them.
    const later = replay([
      ...rotations(2),
      ...decide(
        {
          type: 'rotate_secret',
          secret: 'v1.k0.s3',
          previousSecretExpiresAt: hoursLater(51).toISOString(),
        },
        state,
        hoursLater(27),
      ),
    ])!;
    expect(later.olderSecrets).toEqual([]);
    expect(signingSecrets(later, hoursLater(28))).toEqual(['v1.k0.s3', 'v1.k0.s2']);
  });

  it('keeps at most the previous secret and three older ones signing', () => {
    const state = replay(rotations(6))!;
    expect(signingSecrets(state, hoursLater(7))).toEqual([
      'v1.k0.s6',
      'v1.k0.s5',
      'v1.k0.s4',
      'v1.k0.s3',
      'v1.k0.s2',
    ]);
  });

  it('re-encrypts the older secrets too, keeping their expiries', () => {
    const history = rotations(2);
    const reencrypted = replay([
      ...history,
      ...decide(
        {
          type: 'reencrypt_secrets',
          secret: 'v1.k1.s2',
          previousSecret: 'v1.k1.s1',
          olderSecrets: ['v1.k1.s0'],
        },
        replay(history),
        hoursLater(3),
      ),
    ])!;
    expect(reencrypted.olderSecrets).toEqual([
      { secret: 'v1.k1.s0', expiresAt: hoursLater(25).toISOString() },
    ]);
    expect(signingSecrets(reencrypted, hoursLater(3))).toEqual([
      'v1.k1.s2',
      'v1.k1.s1',
      'v1.k1.s0',
    ]);
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

  it('replaces the custom headers when re-encrypting with them, and keeps them otherwise', () => {
    const inClear = [
      ...created,
      ...decide(
        { type: 'update', changes: { headers: { 'X-Team': 'mail' } } },
        replay(created),
        now,
      ),
    ];
    given(inClear)
      .when({
        type: 'reencrypt_secrets',
        secret: 'v1.k1.s',
        previousSecret: null,
        headers: 'v1.k1.h',
      })
      .then([
        {
          type: 'subscription.secrets_reencrypted',
          data: { secret: 'v1.k1.s', previousSecret: null, headers: 'v1.k1.h' },
        },
      ]);
    const reencrypt = (headers?: string) =>
      replay([
        ...inClear,
        ...decide(
          {
            type: 'reencrypt_secrets',
            secret: 'v1.k1.s',
            previousSecret: null,
            ...(headers && { headers }),
          },
          replay(inClear),
          now,
        ),
      ])!.headers;
    expect(reencrypt('v1.k1.h')).toBe('v1.k1.h');
    expect(reencrypt()).toEqual({ 'X-Team': 'mail' });
  });

  it('deletes, after which every command is refused as not found', () => {
    const deleted = [...created, ...decide({ type: 'delete' }, replay(created), now)];
    expect(replay(deleted)?.deleted).toBe(true);
    given(deleted).when({ type: 'pause' }).thenFails('not_found');
    given([]).when({ type: 'delete' }).thenFails('not_found');
  });
});
