import { describe, expect, it } from 'vitest';
import { kMeans } from './kmeans';
import { silhouette, suggestK } from './silhouette';
import { runSklearn } from '../../test/sklearn';
import { blobs } from '../../test/blobs';

describe('silhouette', () => {
  it("matches scikit-learn's silhouette_score", () => {
    const dim = 5;
    const { vectors } = blobs(240, dim, 3, 2, 4, 3);
    const { assignments } = kMeans(vectors, dim, 3, 1);
    const theirs = runSklearn(
      `from sklearn.metrics import silhouette_score
print(json.dumps(float(silhouette_score(f32("x").reshape(-1, ${dim}).astype(np.float64), i32("g")))))`,
      { x: vectors, g: assignments },
    ) as number;
    expect(silhouette(vectors, dim, assignments, 3)).toBeCloseTo(theirs, 5);
  });

  it('suggests the number of separated blobs', () => {
    const { vectors } = blobs(400, 8, 4, 0.4, 8);
    const suggestion = suggestK(vectors, 8, 2, 8, 3, 200);
    expect(suggestion.k).toBe(4);
    expect(suggestion.scores.map((s) => s.k)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });
});
