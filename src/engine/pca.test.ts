import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { pca2d } from './pca';
import { Random } from './random';

function gaussian(rng: Random): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function unit(v: number[]): number[] {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

function column(values: Float32Array, c: number): number[] {
  return Array.from({ length: values.length / 2 }, (_, i) => values[i * 2 + c]!);
}

function variance(xs: number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
}

/**
 * An elongated cloud in `dim` dimensions: σ = 5 along a random unit axis a, σ = 2 along an axis b ⟂ a, σ = 0.3
 * isotropic noise, around an offset centre.
 */
function cloud(n: number, dim: number, seed: number) {
  const rng = new Random(seed);
  const a = unit(Array.from({ length: dim }, () => gaussian(rng)));
  const r = Array.from({ length: dim }, () => gaussian(rng));
  const b = unit(r.map((x, i) => x - dot(r, a) * a[i]!));
  const centre = Array.from({ length: dim }, () => 3 * gaussian(rng));
  const vectors = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const s = 5 * gaussian(rng);
    const t = 2 * gaussian(rng);
    for (let j = 0; j < dim; j++) vectors[i * dim + j] = centre[j]! + s * a[j]! + t * b[j]! + 0.3 * gaussian(rng);
  }
  return { vectors, a, b };
}

/**
 * The direction behind a column of scores y = X_c v: X_cᵀ y = (n − 1) λ v, so normalising X_cᵀ y recovers v.
 */
function directionOf(vectors: Float32Array, n: number, dim: number, scores: number[]): number[] {
  const mean = Array.from({ length: dim }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += vectors[i * dim + j]!;
    return s / n;
  });
  const v = Array.from({ length: dim }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (vectors[i * dim + j]! - mean[j]!) * scores[i]!;
    return s;
  });
  return unit(v);
}

describe('pca2d', () => {
  const n = 400;
  const dim = 12;
  const { vectors, a, b } = cloud(n, dim, 1);

  it('recovers the dominant and the second direction of an elongated Gaussian cloud', async () => {
    const projected = await pca2d(vectors, n, dim);
    expect(projected).toHaveLength(n * 2);
    const first = directionOf(vectors, n, dim, column(projected, 0));
    const second = directionOf(vectors, n, dim, column(projected, 1));
    expect(Math.abs(dot(first, a))).toBeGreaterThan(0.99);
    expect(Math.abs(dot(second, b))).toBeGreaterThan(0.99);
    expect(Math.abs(dot(first, second))).toBeLessThan(1e-3);
  });

  it('is centred, ordered by variance, and signed by the largest loading', async () => {
    const projected = await pca2d(vectors, n, dim);
    for (const c of [0, 1]) {
      const mean = column(projected, c).reduce((s, x) => s + x, 0) / n;
      expect(Math.abs(mean)).toBeLessThan(1e-3);
    }
    const [v1, v2] = [variance(column(projected, 0)), variance(column(projected, 1))];
    expect(v1).toBeGreaterThanOrEqual(v2);
    expect(v1).toBeGreaterThan(15); // σ² = 25 along a
    expect(v2).toBeGreaterThan(2); // σ² = 4 along b
    for (const c of [0, 1]) {
      const direction = directionOf(vectors, n, dim, column(projected, c));
      const largest = direction.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
      expect(largest).toBeGreaterThan(0);
    }
  });

  it('is deterministic: signs follow the loadings, not the rows or the start of the iteration', async () => {
    const first = await pca2d(vectors, n, dim);
    expect(Array.from(await pca2d(vectors, n, dim))).toEqual(Array.from(first));
    // Shifting the data or reordering the rows leaves the covariance, hence the directions and their signs, alone.
    const shifted = await pca2d(vectors.map((x) => x + 10), n, dim);
    const order = new Random(2).permutation(n);
    const permuted = new Float32Array(n * dim);
    order.forEach((from, to) => permuted.set(vectors.subarray(from * dim, (from + 1) * dim), to * dim));
    const reordered = await pca2d(permuted, n, dim);
    // Negating the data negates the scores: the loadings (and so the signs) stay as they were.
    const negated = await pca2d(vectors.map((x) => -x), n, dim);
    for (let i = 0; i < n; i++) {
      for (const c of [0, 1]) {
        expect(shifted[i * 2 + c]).toBeCloseTo(first[i * 2 + c]!, 2);
        expect(reordered[i * 2 + c]).toBeCloseTo(first[order[i]! * 2 + c]!, 3);
        expect(negated[i * 2 + c]).toBeCloseTo(-first[i * 2 + c]!, 3);
      }
    }
  });

  it('handles n < 2, d < 2, identical rows and rank-1 data', async () => {
    expect(await pca2d(new Float32Array(0), 0, 4)).toHaveLength(0);
    expect(Array.from(await pca2d(Float32Array.from([1, 2, 3]), 1, 3))).toEqual([0, 0]);
    expect(Array.from(await pca2d(new Float32Array(0), 3, 0))).toEqual([0, 0, 0, 0, 0, 0]);
    // d = 1: the centred values themselves (the single loading +1), and a zero second component.
    const oneDim = await pca2d(Float32Array.from([1, 2, 6]), 3, 1);
    [-2, -1, 3].forEach((x, i) => {
      expect(oneDim[i * 2]).toBeCloseTo(x, 5);
      expect(oneDim[i * 2 + 1]).toBe(0);
    });
    expect(Array.from(await pca2d(Float32Array.from([0.3, 0.7, 0.3, 0.7, 0.3, 0.7]), 3, 2))).toEqual([0, 0, 0, 0, 0, 0]);
    // Points on the line t·(2, −1, 2)/3 at t = −3, 0, 3, 6 in 3-D: the first component is ±(t − 1.5), the second
    // zero. The largest loading is 2/3 (the first of two), so the sign is +.
    const line = Float32Array.from([-3, 0, 3, 6].flatMap((t) => [(2 * t) / 3, -t / 3, (2 * t) / 3]));
    const onLine = await pca2d(line, 4, 3);
    [-4.5, -1.5, 1.5, 4.5].forEach((x, i) => {
      expect(onLine[i * 2]).toBeCloseTo(x, 4);
      expect(onLine[i * 2 + 1]).toBe(0);
    });
    // n = 2 in 5-D: ±half the distance on component 1.
    const pair = await pca2d(Float32Array.from([0, 0, 0, 0, 0, 3, 0, 4, 0, 0]), 2, 5);
    expect(Math.abs(pair[0]!)).toBeCloseTo(2.5, 5);
    expect(pair[2]! + pair[0]!).toBeCloseTo(0, 5);
    expect([pair[1], pair[3]]).toEqual([0, 0]);
  });

  it('refuses a size mismatch and leaves no tensor behind', async () => {
    await expect(pca2d(new Float32Array(5), 2, 3)).rejects.toThrow(/values/);
    await pca2d(vectors, n, dim);
    const tensors = tf.memory().numTensors;
    await pca2d(vectors, n, dim);
    await pca2d(Float32Array.from([1, 2, 6]), 3, 1);
    await pca2d(Float32Array.from([1, 1, 1, 1]), 2, 2);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
