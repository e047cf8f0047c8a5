import { describe, expect, it } from 'vitest';
import { runSklearn } from '../../test/sklearn';
import { blobs } from '../../test/blobs';
import { pcaMap } from './map';

describe('pcaMap', () => {
  it("gives scikit-learn's PCA coordinates, up to each axis's sign, also with more values than rows", () => {
    for (const [n, d] of [
      [300, 8],
      [40, 200],
    ] as const) {
      const { vectors } = blobs(n, d, 4, 1, 7 + d);
      const ours = pcaMap(vectors, n, d);
      const theirs = runSklearn(
        `from sklearn.decomposition import PCA
print(json.dumps(PCA(n_components=2, svd_solver="full").fit_transform(f32("x").reshape(-1, ${d}).astype(np.float64)).ravel().tolist()))`,
        { x: vectors },
      ) as number[];
      for (const axis of [0, 1]) {
        const sign = Math.sign(ours[axis]!) === Math.sign(theirs[axis]!) ? 1 : -1;
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < n; i++) {
          worst = Math.max(worst, Math.abs(ours[2 * i + axis]! - sign * theirs[2 * i + axis]!));
          scale = Math.max(scale, Math.abs(theirs[2 * i + axis]!));
        }
        expect(worst / scale).toBeLessThan(1e-3);
      }
    }
  });

  it('is deterministic and gives zeros for a single row', () => {
    const { vectors } = blobs(50, 5, 3, 1, 1);
    expect(Array.from(pcaMap(vectors, 50, 5))).toEqual(Array.from(pcaMap(vectors, 50, 5)));
    expect(Array.from(pcaMap(Float32Array.from([1, 2]), 1, 2))).toEqual([0, 0]);
  });
});
