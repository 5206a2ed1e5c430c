import type { CreateCommand } from '@hookpost/domain';

/**
 * A command that creates a plain subscription (one event type, no scope, no headers), for
 * tests that run the event store directly; `overrides` sets what a test is about. The
 * secret is a ciphertext's shape only: nothing here decrypts it.
 */
export function createSubscriptionCommand(
  subscriptionId: string,
  organizationId: string,
  overrides: Partial<CreateCommand> = {},
): CreateCommand {
  return {
    type: 'create',
    subscriptionId,
    organizationId,
    url: 'https://example.com/hook',
    events: ['message.delivered'],
    scope: { domains: [], mailboxes: [] },
    headers: {},
    format: 'standard',
    description: null,
    rateLimit: null,
    metadata: {},
    secret: 'v1.k0.iv.ct.tag',
    ...overrides,
  };
}
