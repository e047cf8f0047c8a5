import { describe, expect, it } from 'vitest';
import { adjustedRandIndex } from './agreement';
import { groupSizes, kMeans, kMeansPlusPlus, typicalMembers } from './kmeans';
import { runSklearn } from '../../test/sklearn';
import { blobs } from '../../test/blobs';
import { Random } from '../random';

describe('kMeans', () => {
  it('finds the fixed case: two pairs of points on a line, centres at their means', () => {
    const vectors = Float32Array.from([0, 0, 1, 0, 10, 0, 11, 0]);
    const result = kMeans(vectors, 2, 2, 7);
    const [a, b, c, d] = result.assignments;
    expect(a).toBe(b);
    expect(c).toBe(d);
    expect(a).not.toBe(c);
    const centreOf = (g: number) => Array.from(result.centres.subarray(g * 2, g * 2 + 2));
    expect(centreOf(a!)).toEqual([0.5, 0]);
    expect(centreOf(c!)).toEqual([10.5, 0]);
    expect(result.inertia).toBeCloseTo(1, 6);
    expect(groupSizes(result.assignments, 2)).toEqual([2, 2]);
  });

  it('is deterministic from the seed, and another seed may seed elsewhere', () => {
    const { vectors } = blobs(300, 8, 5, 1, 3);
    const one = kMeans(vectors, 8, 5, 42);
    const again = kMeans(vectors, 8, 5, 42);
    expect(Array.from(again.assignments)).toEqual(Array.from(one.assignments));
    expect(Array.from(again.centres)).toEqual(Array.from(one.centres));
    expect(Array.from(kMeansPlusPlus(vectors, 8, 5, new Random(1)))).not.toEqual(Array.from(kMeansPlusPlus(vectors, 8, 5, new Random(2))));
  });

  it('keeps every group non-empty, and gives the members nearest the centre as typical', () => {
    // A third start far from every point would own none: it takes the row farthest from its centre.
    const vectors = Float32Array.from([0, 0, 1, 0, 2, 0, 10, 0, 11, 0]);
    const result = kMeans(vectors, 2, 3, 1, { initialCentres: Float32Array.from([0, 0, 10, 0, 100, 0]) });
    expect(groupSizes(result.assignments, 3).every((s) => s > 0)).toBe(true);
    const typical = typicalMembers(vectors, 2, result, 2);
    expect(typical.length).toBe(3);
    for (const members of typical) for (const i of members) expect(result.assignments[i]).toBe(typical.indexOf(members));
  });

  it("matches scikit-learn's KMeans from the same start: same groups, same centres, same inertia", () => {
    const dim = 6;
    const { vectors } = blobs(400, dim, 4, 2.5, 11, 3);
    const start = kMeansPlusPlus(vectors, dim, 4, new Random(5));
    const ours = kMeans(vectors, dim, 4, 0, { initialCentres: start, maxIterations: 300, tolerance: 0 });
    const theirs = runSklearn(
      `from sklearn.cluster import KMeans
X = f32("x").reshape(-1, ${dim}).astype(np.float64)
init = f32("init").reshape(-1, ${dim}).astype(np.float64)
m = KMeans(n_clusters=4, init=init, n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(X)
print(json.dumps({"labels": m.labels_.tolist(), "centres": m.cluster_centers_.ravel().tolist(), "inertia": float(m.inertia_)}))`,
      { x: vectors, init: start },
    ) as { labels: number[]; centres: number[]; inertia: number };
    expect(Array.from(ours.assignments)).toEqual(theirs.labels);
    theirs.centres.forEach((c, i) => expect(ours.centres[i]).toBeCloseTo(c, 4));
    expect(ours.inertia).toBeCloseTo(theirs.inertia, 1);
  });

  it("finds scikit-learn's own k-means++ grouping of separated blobs (ARI 1) with no worse inertia", () => {
    const dim = 16;
    const { vectors, labels } = blobs(600, dim, 6, 0.5, 23);
    const ours = kMeans(vectors, dim, 6, 123);
    const theirs = runSklearn(
      `from sklearn.cluster import KMeans
X = f32("x").reshape(-1, ${dim}).astype(np.float64)
m = KMeans(n_clusters=6, n_init=10, random_state=0).fit(X)
print(json.dumps({"labels": m.labels_.tolist(), "inertia": float(m.inertia_)}))`,
      { x: vectors },
    ) as { labels: number[]; inertia: number };
    expect(adjustedRandIndex(ours.assignments, theirs.labels)).toBe(1);
    expect(adjustedRandIndex(ours.assignments, labels)).toBe(1);
    expect(ours.inertia).toBeLessThanOrEqual(theirs.inertia * (1 + 1e-5));
  });
});
