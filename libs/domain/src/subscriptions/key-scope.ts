import type { IngestedEvent, SubscriptionScope } from '@hookpost/contracts';
import { scopeParty } from '../matching/subscription-index.js';

/** What an API key may reach: nothing narrower than its organisation when both are empty. */
export interface KeyScope {
  domains?: string[];
  mailboxes?: string[];
}

export function isScopedKey(key: KeyScope): boolean {
  return (key.domains?.length ?? 0) > 0 || (key.mailboxes?.length ?? 0) > 0;
}

/**
 * Whether a subscription's scope lies inside an API key's. An organisation-wide key
 * covers every subscription. A scoped key covers only subscriptions scoped within it:
 * each of their domains is one of the key's domains or a subdomain of one, and each of
 * their mailboxes is one of the key's mailboxes or lies in one of its domains. An
 * unscoped subscription (every sender of the organisation) is outside any scoped key.
 */
export function keyCovers(key: KeyScope, subscription: SubscriptionScope): boolean {
  if (!isScopedKey(key)) return true;
  if (subscription.domains.length === 0 && subscription.mailboxes.length === 0) return false;
  const keyDomains = key.domains ?? [];
  const domainCovered = (domain: string) =>
    keyDomains.some((own) => domain === own || domain.endsWith(`.${own}`));
  return (
    subscription.domains.every(domainCovered) &&
    subscription.mailboxes.every(
      (mailbox) =>
        (key.mailboxes ?? []).includes(mailbox) ||
        domainCovered(mailbox.slice(mailbox.lastIndexOf('@') + 1)),
    )
  );
}

/** Whether an event is one a key may see: its sender (or, inbound, a recipient) is in scope. */
export function keyCoversEvent(
  key: KeyScope,
  event: Pick<IngestedEvent, 'type' | 'data'>,
): boolean {
  if (!isScopedKey(key)) return true;
  const party = scopeParty(event);
  const keyDomains = key.domains ?? [];
  return (
    party.mailboxes.some((mailbox) => (key.mailboxes ?? []).includes(mailbox)) ||
    party.domains.some((domain) =>
      keyDomains.some((own) => domain === own || domain.endsWith(`.${own}`)),
    )
  );
}
