import { describe, expect, it } from 'vitest';
import { Random } from '../random';
import { duplicateGroupOf, duplicateGroups, groupCountsAcrossThresholds, keepOnePerGroup, UnionFind } from './duplicates';
import { gaussian, normaliseRows } from '../../test/blobs';
import { cosineTopK, type Neighbours } from './topk';

/** Neighbour lists written out by hand: row i's (index, similarity) pairs, most similar first. */
function lists(rows: [number, number][][]): Neighbours {
  const k = rows[0]!.length;
  return {
    k,
    indices: Int32Array.from(rows.flatMap((r) => r.map(([i]) => i))),
    similarities: Float32Array.from(rows.flatMap((r) => r.map(([, s]) => s))),
  };
}

describe('duplicate groups', () => {
  const neighbours = lists([
    [[1, 0.99], [2, 0.5]],
    [[0, 0.99], [2, 0.6]],
    [[3, 0.97], [1, 0.6]],
    [[2, 0.97], [4, 0.95]],
    [[3, 0.95], [0, 0.1]],
    [[0, 0.2], [1, 0.1]],
  ]);

  it('joins pairs at or above the threshold, chains included, and leaves the rest alone', () => {
    expect(duplicateGroups(neighbours, 6, 0.98)).toEqual([[0, 1]]);
    expect(duplicateGroups(neighbours, 6, 0.96)).toEqual([[0, 1], [2, 3]]);
    expect(duplicateGroups(neighbours, 6, Math.fround(0.95))).toEqual([[0, 1], [2, 3, 4]]);
    expect(duplicateGroups(neighbours, 6, 0.6)).toEqual([[0, 1, 2, 3, 4]]);
    expect(duplicateGroups(neighbours, 6, 0.999)).toEqual([]);
    // The closest groups come first.
    expect(duplicateGroups(lists([[[1, 0.96]], [[0, 0.96]], [[3, 0.99]], [[2, 0.99]]]), 4, 0.9)).toEqual([[2, 3], [0, 1]]);
    expect(Array.from(duplicateGroupOf(duplicateGroups(neighbours, 6, Math.fround(0.95)), 6))).toEqual([0, 0, 1, 1, 1, -1]);
    expect(keepOnePerGroup(duplicateGroups(neighbours, 6, Math.fround(0.95)))).toEqual([0, 2]);
  });

  it('counts groups at many thresholds as grouping at each would', async () => {
    expect(groupCountsAcrossThresholds(neighbours, 6, [0.999, 0.98, 0.96, Math.fround(0.95), 0.6])).toEqual([0, 1, 2, 2, 1]);
    const dim = 6;
    const rng = new Random(12);
    const vectors = normaliseRows(Float32Array.from({ length: 150 * dim }, () => gaussian(rng)), dim);
    const found = await cosineTopK(vectors, vectors, dim, 5, true);
    const thresholds = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99];
    expect(groupCountsAcrossThresholds(found, 150, thresholds)).toEqual(thresholds.map((t) => duplicateGroups(found, 150, t).length));
  });

  it('unions by set', () => {
    const sets = new UnionFind(5);
    expect(sets.union(0, 1)).toBe(true);
    expect(sets.union(1, 0)).toBe(false);
    sets.union(3, 4);
    sets.union(4, 1);
    expect(new Set([0, 1, 3, 4].map((i) => sets.find(i))).size).toBe(1);
    expect(sets.find(2)).toBe(2);
  });
});
