import { describe, expect, it } from 'vitest';
import { Random } from '../random';
import { gaussian, normaliseRows } from '../../test/blobs';
import { runSklearn } from '../../test/sklearn';
import { analyseRepresentation } from './analyse';
import { centredRows, meanRow } from './centre';

/** ReLU-like features: every row positive, sharing one large direction, spread along two others (an encoder's h). */
function reluLike(n: number, dim: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const a = gaussian(rng);
    const b = 0.5 * gaussian(rng);
    for (let j = 0; j < dim; j++) rows[i * dim + j] = Math.max(0, 3 + (j % 2 ? a : -a) + (j % 3 ? b : -b) + 0.1 * gaussian(rng));
  }
  return normaliseRows(rows, dim);
}

/** Spread of the points' distances from their centre: standard deviation over mean. */
function radiusSpread(coords: Float32Array): number {
  const n = coords.length / 2;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += coords[2 * i]! / n;
    my += coords[2 * i + 1]! / n;
  }
  const r = Array.from({ length: n }, (_, i) => Math.hypot(coords[2 * i]! - mx, coords[2 * i + 1]! - my));
  const mean = r.reduce((s, v) => s + v, 0) / n;
  return Math.sqrt(r.reduce((s, v) => s + (v - mean) ** 2, 0) / n) / mean;
}

describe('analyseRepresentation', () => {
  it("maps the rows the table holds: scikit-learn's PCA of the unit rows, not a ring of the centred unit rows", async () => {
    const [n, dim] = [240, 16];
    const unit = reluLike(n, dim, 3);
    const { rows: centred, lengths } = centredRows(unit, dim, meanRow(unit, dim));
    const analysis = await analyseRepresentation({ unit, centred, lengths }, n, dim, { k: 3, neighbours: 5, seed: 1 });
    const theirs = runSklearn(
      `from sklearn.decomposition import PCA
print(json.dumps(PCA(n_components=2, svd_solver="full").fit_transform(f32("x").reshape(-1, ${dim}).astype(np.float64)).ravel().tolist()))`,
      { x: unit },
    ) as number[];
    for (const axis of [0, 1]) {
      const sign = Math.sign(analysis.coords[axis]!) === Math.sign(theirs[axis]!) ? 1 : -1;
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(analysis.coords[2 * i + axis]! - sign * theirs[2 * i + axis]!));
        scale = Math.max(scale, Math.abs(theirs[2 * i + axis]!));
      }
      expect(worst / scale).toBeLessThan(1e-3);
    }
    // Gaussian spread on the map, as the points have; the centred unit rows would sit near one circle.
    const ring = runSklearn(
      `from sklearn.decomposition import PCA
print(json.dumps(PCA(n_components=2, svd_solver="full").fit_transform(f32("x").reshape(-1, ${dim}).astype(np.float64)).ravel().tolist()))`,
      { x: centred },
    ) as number[];
    expect(radiusSpread(Float32Array.from(ring))).toBeLessThan(0.25);
    expect(radiusSpread(analysis.coords)).toBeGreaterThan(0.4);
  });
});
