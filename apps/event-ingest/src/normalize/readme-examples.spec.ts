import { REPO_ROOT } from '@hookpost/testing';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalize } from './normalize.js';

/**
 * The mail events README.md tells users to produce are taken as the README says: each
 * `echo '<json>'` piped to kcat, with `$ORG_ID` as a registered organisation.
 */
const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
const examples = [...readme.matchAll(/^echo '(.+)' \\\n\s+\| kcat -P .*-t mail-events(.*)$/gm)].map(
  ([, json, rest]) => ({
    value: json!.replaceAll(`"'$ORG_ID'"`, '"org_1"'),
    organizationHeader: /-H "organization-id=\$ORG_ID"/.test(rest!) ? 'org_1' : undefined,
  }),
);

describe('README examples', () => {
  it('has the canonical, Paubox, Postal and generic examples', () => {
    expect(examples).toHaveLength(4);
  });

  it.each(examples.map((example, i) => [i, example] as const))(
    'example %i is accepted as one JSON message',
    (_i, example) => {
      const result = normalize(
        { value: Buffer.from(example.value), organizationHeader: example.organizationHeader },
        {
          maxBytes: 262_144,
          now: () => new Date('2026-01-01T00:00:00Z'),
          organizations: {
            has: (id) => id === 'org_1',
            byDomain: (domain) => (domain === 'acme.example' ? 'org_1' : undefined),
          },
        },
      );
      expect(result, JSON.stringify(result)).toMatchObject({
        ok: true,
        event: { type: 'message.delivered', organization_id: 'org_1' },
      });
    },
  );
});
