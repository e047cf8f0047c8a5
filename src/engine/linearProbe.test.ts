import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fitLinearProbe, linearProbeAccuracy, predictLinearProbe } from './linearProbe';
import { Random } from './random';

function gaussian(rng: Random): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** `count` rows around class centres (centre c has `separation` on axis c), Gaussian noise σ = 1, labels cycling. */
function blobs(count: number, dim: number, classes: number, separation: number, rng: Random) {
  const rows = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % classes;
    for (let j = 0; j < dim; j++) rows[i * dim + j] = (j === labels[i] ? separation : 0) + gaussian(rng);
  }
  return { rows, labels };
}

/** Φ, the standard normal CDF (Abramowitz and Stegun 7.1.26 on erf: error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * The same objective minimised another way, in float64: Newton's method on (W, b) with the exact Hessian
 * (1/n) Σ (diag p − p pᵀ) ⊗ x̃ x̃ᵀ + λ on W, x̃ = [x, 1], and a backtracking line search. Features are standardised as
 * the probe does (population standard deviation). Returns the optimal objective and the weights.
 */
function newtonReference(rows: Float32Array, labels: Int32Array, dim: number, classes: number, l2: number) {
  const n = labels.length;
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += rows[i * dim + j]! / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) std[j] += (rows[i * dim + j]! - mean[j]!) ** 2 / n;
  const x = Array.from({ length: n }, (_, i) => [...Array.from({ length: dim }, (_, j) => (rows[i * dim + j]! - mean[j]!) / Math.sqrt(std[j]!)), 1]);
  const d1 = dim + 1;
  const size = d1 * classes;
  // θ[k * d1 + j]: weight of feature j (j = dim: the bias) for class k.
  const probabilities = (theta: Float64Array, xi: number[]) => {
    const logits = Array.from({ length: classes }, (_, k) => xi.reduce((s, v, j) => s + v * theta[k * d1 + j]!, 0));
    const top = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - top));
    const z = e.reduce((a, b) => a + b, 0);
    return { p: e.map((v) => v / z), logZ: top + Math.log(z), logits };
  };
  const objective = (theta: Float64Array) => {
    let j = 0;
    for (let i = 0; i < n; i++) {
      const { logZ, logits } = probabilities(theta, x[i]!);
      j += (logZ - logits[labels[i]!]!) / n;
    }
    for (let k = 0; k < classes; k++) for (let f = 0; f < dim; f++) j += (l2 / 2) * theta[k * d1 + f]! ** 2;
    return j;
  };
  let theta = new Float64Array(size);
  for (let iteration = 0; iteration < 50; iteration++) {
    const g = new Float64Array(size);
    const h = Array.from({ length: size }, () => new Float64Array(size));
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const { p } = probabilities(theta, xi);
      for (let k = 0; k < classes; k++) {
        const r = p[k]! - (labels[i] === k ? 1 : 0);
        for (let a = 0; a < d1; a++) g[k * d1 + a] += (r * xi[a]!) / n;
        for (let m = 0; m < classes; m++) {
          const c = ((k === m ? p[k]! : 0) - p[k]! * p[m]!) / n;
          for (let a = 0; a < d1; a++) for (let b = 0; b < d1; b++) h[k * d1 + a]![m * d1 + b] += c * xi[a]! * xi[b]!;
        }
      }
    }
    for (let k = 0; k < classes; k++) {
      for (let f = 0; f < dim; f++) {
        g[k * d1 + f] += l2 * theta[k * d1 + f]!;
        h[k * d1 + f]![k * d1 + f] += l2;
      }
      // The biases are unpenalised and shift-invariant together: a tiny ridge makes the system solvable.
      h[k * d1 + dim]![k * d1 + dim] += 1e-10;
    }
    // Solve h · step = g by Gaussian elimination with partial pivoting.
    const a = h.map((row, r) => [...row, g[r]!]);
    for (let c = 0; c < size; c++) {
      let pivot = c;
      for (let r = c + 1; r < size; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
      [a[c], a[pivot]] = [a[pivot]!, a[c]!];
      for (let r = c + 1; r < size; r++) {
        const f = a[r]![c]! / a[c]![c]!;
        for (let k = c; k <= size; k++) a[r]![k] -= f * a[c]![k]!;
      }
    }
    const step = new Float64Array(size);
    for (let r = size - 1; r >= 0; r--) {
      let s = a[r]![size]!;
      for (let k = r + 1; k < size; k++) s -= a[r]![k]! * step[k]!;
      step[r] = s / a[r]![r]!;
    }
    const before = objective(theta);
    let t = 1;
    let next = theta.map((v, i) => v - t * step[i]!);
    while (objective(next) > before && t > 1e-8) {
      t /= 2;
      next = theta.map((v, i) => v - t * step[i]!);
    }
    theta = next;
    if (Math.max(...g.map(Math.abs)) < 1e-12) break;
  }
  return { objective: objective(theta), theta, mean, std };
}

describe('linear probe', () => {
  it('reaches the optimum that Newton\'s method finds in float64 on the same objective', async () => {
    const rng = new Random(7);
    const { rows, labels } = blobs(300, 3, 3, 1.2, rng);
    const reference = newtonReference(rows, labels, 3, 3, 1e-2);
    const converged = await fitLinearProbe(rows, labels, 3, 3, { l2: 1e-2, steps: 500 });
    expect(converged.objective).toBeCloseTo(reference.objective, 4);
    // Weights on the same standardised features, up to a shift of all biases together (softmax does not see it).
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 3; j++) expect(converged.weights[j * 3 + k]).toBeCloseTo(reference.theta[k * 4 + j]!, 2);
    }
    // The default schedule (100 steps) gets there too, on this well-conditioned problem.
    const quick = await fitLinearProbe(rows, labels, 3, 3, { l2: 1e-2 });
    expect(quick.objective).toBeCloseTo(reference.objective, 5);
  });

  it('classifies separable classes perfectly', async () => {
    const rng = new Random(1);
    const train = blobs(200, 8, 4, 10, rng);
    const test = blobs(200, 8, 4, 10, rng);
    expect(await linearProbeAccuracy(train.rows, train.labels, test.rows, test.labels, 8, 4)).toBe(1);
  });

  it('on overlapping classes, scores what the best possible classifier does (the Bayes rate Φ(1))', async () => {
    // Class ±1 on the first axis with unit noise, four pure-noise axes: the best rule is the sign of x₀, right Φ(1) = 84.1 % of the time.
    const rng = new Random(3);
    const make = (count: number) => {
      const rows = new Float32Array(count * 5);
      const labels = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        labels[i] = i % 2;
        rows[i * 5] = (labels[i] ? 1 : -1) + gaussian(rng);
        for (let j = 1; j < 5; j++) rows[i * 5 + j] = gaussian(rng);
      }
      return { rows, labels };
    };
    const train = make(2000);
    const test = make(4000);
    const accuracy = await linearProbeAccuracy(train.rows, train.labels, test.rows, test.labels, 5, 2);
    // Binomial standard error at n = 4000 is 0.6 %; the fitted rule is a little worse than the best one.
    expect(Math.abs(accuracy - normalCdf(1))).toBeLessThan(0.02);
  });

  it('labels that have nothing to do with the features score about chance', async () => {
    const rng = new Random(5);
    const train = blobs(500, 6, 5, 0, rng);
    const test = blobs(1000, 6, 5, 0, rng);
    const accuracy = await linearProbeAccuracy(train.rows, train.labels, test.rows, test.labels, 6, 5);
    expect(Math.abs(accuracy - 0.2)).toBeLessThan(0.05);
  });

  it('standardises: scaled and shifted features, and a constant one, change nothing', async () => {
    const rng = new Random(11);
    const { rows, labels } = blobs(240, 4, 3, 1.5, rng);
    const test = blobs(240, 4, 3, 1.5, rng);
    const probe = await fitLinearProbe(rows, labels, 4, 3);
    const plain = await predictLinearProbe(probe, test.rows);
    // Feature 1 in other units (×1000, +500), and a fifth feature that is always 7.
    const widen = (r: Float32Array) => Float32Array.from({ length: (r.length / 4) * 5 }, (_, i) => {
      const row = Math.floor(i / 5);
      const j = i % 5;
      return j === 4 ? 7 : j === 1 ? r[row * 4 + j]! * 1000 + 500 : r[row * 4 + j]!;
    });
    const other = await fitLinearProbe(widen(rows), labels, 5, 3);
    expect(Array.from(other.weights).every(Number.isFinite)).toBe(true);
    const predicted = await predictLinearProbe(other, widen(test.rows));
    const agree = predicted.filter((p, i) => p === plain[i]).length / plain.length;
    expect(agree).toBeGreaterThan(0.99);
  });

  it('is deterministic and leaves no tensor behind', async () => {
    const rng = new Random(2);
    const { rows, labels } = blobs(100, 6, 3, 2, rng);
    const before = tf.memory().numTensors;
    const a = await fitLinearProbe(rows, labels, 6, 3);
    const b = await fitLinearProbe(rows, labels, 6, 3);
    await predictLinearProbe(a, rows);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    expect(Array.from(a.bias)).toEqual(Array.from(b.bias));
  });

  it('refuses what it cannot fit', async () => {
    const rows = new Float32Array(6);
    await expect(fitLinearProbe(rows, Int32Array.from([0, 1, 0]), 2, 2)).resolves.toBeTruthy();
    await expect(fitLinearProbe(rows, Int32Array.from([0, 1]), 2, 2)).rejects.toThrow(/2 training labels for 3 rows/);
    await expect(fitLinearProbe(rows, Int32Array.from([0, 1, 2]), 2, 2)).rejects.toThrow(/outside 0..1/);
    await expect(fitLinearProbe(rows, Int32Array.from([0, 0, 0]), 2, 1)).rejects.toThrow(/at least 2 classes/);
    await expect(fitLinearProbe(rows, Int32Array.from([0, 1, 0]), 4, 2)).rejects.toThrow(/not rows of 4/);
    await expect(fitLinearProbe(rows, Int32Array.from([0, 1, 0]), 2, 2, { l2: 0 })).rejects.toThrow(/strongly convex/);
  });
});
