import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { latestRunTable, type PipelineResults } from './latest-run-table.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('docs/performance.md, Latest full run', () => {
  it('is the table of the results file the pipeline section names', async () => {
    const doc = read('docs/performance.md');
    const pipeline = doc.slice(doc.indexOf('## Pipeline'));
    const file = /raw figures in\s+`(bench\/results\/pipeline-[^`]+\.json)`/.exec(pipeline)?.[1];
    expect(file, 'the pipeline section names its results file').toBeDefined();
    const section = pipeline.split('### Latest full run')[1]!.split('\n### ')[0]!;
    const inDoc = section
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .join('\n');
    const rendered = await latestRunTable(JSON.parse(read(file!)) as PipelineResults);
    expect(inDoc).toBe(rendered.trim());
  });
});
