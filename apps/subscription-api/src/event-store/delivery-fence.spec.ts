import { describe, expect, it } from 'vitest';
import { partitionsBehind } from './delivery-fence.js';

describe('partitionsBehind', () => {
  const ends = new Map([
    [0, 10n],
    [2, 4n],
  ]);

  it('is empty once a view has committed every partition to its end', () => {
    expect(
      partitionsBehind(
        ends,
        new Map([
          [0, 10n],
          [1, 0n],
          [2, 4n],
        ]),
      ),
    ).toEqual([]);
  });

  it('names the partitions a view has not read to the end', () => {
    expect(
      partitionsBehind(
        ends,
        new Map([
          [0, 9n],
          [2, 4n],
        ]),
      ),
    ).toEqual([0]);
  });

  it('counts a partition with no commit (-1, or none at all) as unread', () => {
    expect(partitionsBehind(ends, new Map([[0, -1n]]))).toEqual([0, 2]);
  });

  it('asks nothing of partitions with nothing to read', () => {
    expect(partitionsBehind(new Map(), new Map())).toEqual([]);
  });
});
