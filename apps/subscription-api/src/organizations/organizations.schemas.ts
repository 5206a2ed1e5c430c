import { z } from 'zod';
import { pageCursor, pageLimit } from '../http/paging.js';

/** A DNS name: labels of letters, digits and hyphens, stored lower-case. */
export const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'must be a domain name such as mail.example.com',
  );

/** A mailbox (address) in a key's or a subscription's scope. */
export const mailbox = z.string().trim().toLowerCase().max(320).email('must be an email address');

const domains = z
  .array(domainName)
  .max(1000)
  .transform((list) => [...new Set(list)].sort());

export const createOrganizationSchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  domains: domains.default([]),
});

export const updateOrganizationSchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200).optional(),
  domains: domains.optional(),
});

/** The longest an expiring key may be given: one meant to last longer should not expire. */
export const API_KEY_LIFETIME_MAX_DAYS = 3_650;

export const createApiKeySchema = z.strictObject({
  /** The operator's label, to tell keys apart (which client holds it). */
  name: z.string().trim().min(1, 'must not be empty').max(200).optional(),
  /** When the key stops working by itself; absent: when revoked. */
  expires_at: z.iso
    .datetime({ offset: true, message: 'must be an ISO-8601 time' })
    .refine((at) => Date.parse(at) > Date.now(), 'must be in the future')
    .refine(
      (at) => Date.parse(at) <= Date.now() + API_KEY_LIFETIME_MAX_DAYS * 86_400_000,
      `must be within ${API_KEY_LIFETIME_MAX_DAYS} days`,
    )
    .optional(),
  scope: z
    .strictObject({
      domains: z.array(domainName).max(100).optional(),
      mailboxes: z.array(mailbox).max(100).optional(),
    })
    .optional(),
});

/** A page of organisations, in the order they were created; `domain` finds its holder. */
export const listOrganizationsQuery = z.strictObject({
  limit: pageLimit(),
  cursor: pageCursor(/^org_[0-9A-HJKMNP-TV-Z]{26}$/),
  domain: domainName.optional(),
});

/** A page of an organisation's API keys; revoked ones only if asked. */
export const listApiKeysQuery = z.strictObject({
  limit: pageLimit(),
  cursor: pageCursor(/^key_[0-9A-HJKMNP-TV-Z]{26}$/),
  include_revoked: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
});
