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

/** Every pair's cosine in plain JS. */
function similarityMatrix(vectors: Float32Array, dim: number): number[][] {
  const n = vectors.length / dim;
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Array.from({ length: dim }, (_, d) => vectors[i * dim + d]! * vectors[j * dim + d]!).reduce((a, b) => a + b)));
}

/**
 * Complete linkage by brute force on the whole matrix: every pair at or above the threshold from the most similar
 * down (ties by the lower index first), joining the two images' clusters when every pair across them passes.
 */
function bruteForceGroups(sim: number[][], threshold: number): number[][] {
  const n = sim.length;
  const pairs: [number, number, number][] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (Math.fround(sim[i]![j]!) >= threshold) pairs.push([i, j, Math.fround(sim[i]![j]!)]);
  pairs.sort((x, y) => y[2] - x[2] || x[0] - y[0] || x[1] - y[1]);
  const cluster = Array.from({ length: n }, (_, i) => [i]);
  const owner = Array.from({ length: n }, (_, i) => i);
  for (const [i, j] of pairs) {
    const a = owner[i]!;
    const b = owner[j]!;
    if (a === b) continue;
    if (!cluster[a]!.every((x) => cluster[b]!.every((y) => Math.fround(sim[x]![y]!) >= threshold))) continue;
    for (const y of cluster[b]!) owner[y] = a;
    cluster[a]!.push(...cluster[b]!);
    cluster[b] = [];
  }
  return cluster.filter((c) => c.length > 1).map((c) => c.sort((x, y) => x - y)).sort((x, y) => x[0]! - y[0]!);
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

  it('joins pairs at or above the threshold into groups every two of whose members pass it, and leaves the rest alone', () => {
    expect(duplicateGroups(neighbours, 6, 0.98)).toEqual([[0, 1]]);
    expect(duplicateGroups(neighbours, 6, 0.96)).toEqual([[0, 1], [2, 3]]);
    // 4 is close to 3 but not to 2 (neither list holds the other): no chain 2 – 3 – 4.
    expect(duplicateGroups(neighbours, 6, Math.fround(0.95))).toEqual([[0, 1], [2, 3]]);
    expect(duplicateGroups(neighbours, 6, 0.999)).toEqual([]);
    // The closest groups come first.
    expect(duplicateGroups(lists([[[1, 0.96]], [[0, 0.96]], [[3, 0.99]], [[2, 0.99]]]), 4, 0.9)).toEqual([[2, 3], [0, 1]]);
    expect(Array.from(duplicateGroupOf(duplicateGroups(neighbours, 6, Math.fround(0.95)), 6))).toEqual([0, 0, 1, 1, -1, -1]);
    expect(keepOnePerGroup(duplicateGroups(neighbours, 6, Math.fround(0.95)))).toEqual([0, 2]);
    // A triangle every side of which passes is one group.
    const triangle = lists([[[1, 0.99], [2, 0.97]], [[0, 0.99], [2, 0.98]], [[1, 0.98], [0, 0.97]]]);
    expect(duplicateGroups(triangle, 3, 0.97)).toEqual([[0, 1, 2]]);
    expect(duplicateGroups(triangle, 3, 0.975)).toEqual([[0, 1]]);
  });

  it('does not chain: points a step apart on a line make pairs, not one group', () => {
    // Unit rows at angles 0°, 10°, 20°, …: neighbours 10° apart have cosine 0.985, two steps 0.940.
    const n = 12;
    const vectors = Float32Array.from({ length: 2 * n }, (_, i) => ((i % 2 ? Math.sin : Math.cos)((Math.floor(i / 2) * 10 * Math.PI) / 180)));
    const sim = similarityMatrix(vectors, 2);
    const all = lists(sim.map((row, i) => row.map((s, j) => [j, s] as [number, number]).filter(([j]) => j !== i).sort((a, b) => b[1] - a[1] || a[0] - b[0])));
    const groups = duplicateGroups(all, n, 0.95);
    expect(groups.every((g) => g.length === 2)).toBe(true);
    expect(groups).toHaveLength(n / 2);
  });

  it('gives what complete linkage by brute force gives, and counts at many thresholds what grouping at each gives', async () => {
    expect(groupCountsAcrossThresholds(neighbours, 6, [0.999, 0.98, 0.96, Math.fround(0.95), 0.6])).toEqual([0, 1, 2, 2, 2]);
    for (const seed of [12, 13, 14]) {
      const dim = 6;
      const rng = new Random(seed);
      const n = 150;
      // Tight clusters of a few around random centres, so that groups of three and more are common.
      const centres = Array.from({ length: 40 * dim }, () => gaussian(rng));
      const vectors = normaliseRows(Float32Array.from({ length: n * dim }, (_, i) => centres[(Math.floor(i / dim) % 40) * dim + (i % dim)]! + 0.25 * gaussian(rng)), dim);
      const sim = similarityMatrix(vectors, dim);
      // Lists holding every other row: what the lists know is the whole matrix.
      const every = await cosineTopK(vectors, vectors, dim, n - 1, true);
      const thresholds = [0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.99];
      for (const t of thresholds) {
        const found = duplicateGroups(every, n, Math.fround(t));
        expect([...found].sort((x, y) => x[0]! - y[0]!), `seed ${seed} at ${t}`).toEqual(bruteForceGroups(sim, Math.fround(t)));
        for (const g of found) for (const i of g) for (const j of g) if (i !== j) expect(Math.fround(sim[i]![j]!)).toBeGreaterThanOrEqual(Math.fround(t) - 1e-6);
      }
      // Shorter lists, as the page has: counts across thresholds are the groups at each.
      const five = await cosineTopK(vectors, vectors, dim, 5, true);
      const sweep = Array.from({ length: 41 }, (_, i) => Math.fround(0.8 + i * 0.005));
      expect(groupCountsAcrossThresholds(five, n, sweep)).toEqual(sweep.map((t) => duplicateGroups(five, n, t).length));
    }
  });

  it('groups 10,000 images at a threshold in well under the time a slider step allows', () => {
    const n = 10_000;
    const k = 10;
    const rng = new Random(5);
    // Lists where every image has close neighbours: the most pairs to sort and check.
    const indices = Int32Array.from({ length: n * k }, (_, i) => (Math.floor(i / k) + 1 + (i % k)) % n);
    const similarities = Float32Array.from({ length: n * k }, (_, i) => 0.999 - 0.004 * (i % k) - 0.001 * rng.next());
    const started = performance.now();
    duplicateGroups({ k, indices, similarities }, n, 0.95);
    groupCountsAcrossThresholds({ k, indices, similarities }, n, [0.9, 0.93, 0.95, 0.97, 0.99]);
    expect(performance.now() - started).toBeLessThan(2000);
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
