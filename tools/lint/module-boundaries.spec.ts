import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The module-boundary rules are part of the architecture: prove they bite. Each case
 * lints a line of source as if it were a file of the named project.
 */
const eslint = new ESLint({ cwd: new URL('../../', import.meta.url).pathname });

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === '@nx/enforce-module-boundaries')
    .map((m) => m.message);
}

describe('module boundaries', () => {
  it('refuse a library importing an app', async () => {
    const errors = await boundaryErrors(
      'libs/domain/src/bad-import.ts',
      "import { configSchema } from '../../../apps/deliverer/src/config.js';\nexport const x = configSchema;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('refuse the domain importing the platform (frameworks stay at the edges)', async () => {
    const errors = await boundaryErrors(
      'libs/domain/src/bad-import.ts',
      "import { createLogger } from '@hookpost/platform';\nexport const x = createLogger;\n",
    );
    expect(errors.join('\n')).toMatch(/type:domain/);
  });

  it('refuse contracts importing anything of ours', async () => {
    const errors = await boundaryErrors(
      'libs/contracts/src/bad-import.ts',
      "import { replay } from '@hookpost/domain';\nexport const x = replay;\n",
    );
    expect(errors.length).toBeGreaterThan(0);
  });

  it('allow an app importing the libraries', async () => {
    const errors = await boundaryErrors(
      'apps/matcher/src/fine-import.ts',
      "import { TOPICS } from '@hookpost/contracts';\nimport { replay } from '@hookpost/domain';\nexport const x = [TOPICS, replay];\n",
    );
    expect(errors).toEqual([]);
  });
});
