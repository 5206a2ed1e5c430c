import { z } from 'zod';

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

export const createApiKeySchema = z.strictObject({
  scope: z
    .strictObject({
      domains: z.array(domainName).max(100).optional(),
      mailboxes: z.array(mailbox).max(100).optional(),
    })
    .optional(),
});
