// Choosing k: the mean silhouette (Rousseeuw 1987) of a k-means grouping, over a fixed sample of rows so that it
// costs O(sample × n) rather than O(n²); the suggested k is the one with the highest.
import { Random } from '../random';
import { kMeans } from './kmeans';

function distance(v: Float32Array, a: number, b: number, dim: number): number {
  let sum = 0;
  for (let j = 0; j < dim; j++) {
    const d = v[a * dim + j]! - v[b * dim + j]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/**
 * Mean silhouette of `rows` (all when omitted) under `assignments`, Euclidean distances among those rows only (as
 * scikit-learn's silhouette_score with sample_size): s = (b − a) / max(a, b), a the mean distance to its own group's
 * other rows, b to the nearest other group's; 0 for a row alone in its group.
 */
export function silhouette(vectors: Float32Array, dim: number, assignments: Int32Array, k: number, rows?: number[]): number {
  const sample = rows ?? Array.from({ length: assignments.length }, (_, i) => i);
  const sizes = new Array<number>(k).fill(0);
  for (const i of sample) sizes[assignments[i]!] += 1;
  let total = 0;
  const sums = new Float64Array(k);
  for (const i of sample) {
    sums.fill(0);
    for (const j of sample) if (j !== i) sums[assignments[j]!] += distance(vectors, i, j, dim);
    const own = assignments[i]!;
    if (sizes[own]! <= 1) continue;
    const a = sums[own]! / (sizes[own]! - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && sizes[c]! > 0) b = Math.min(b, sums[c]! / sizes[c]!);
    if (!Number.isFinite(b)) continue;
    total += (b - a) / Math.max(a, b);
  }
  return sample.length ? total / sample.length : 0;
}

export interface KSuggestion {
  k: number;
  /** Mean silhouette for each k tried. */
  scores: { k: number; silhouette: number }[];
}

/**
 * The k in [from, to] whose k-means grouping of a seeded sample of `sampleSize` rows has the highest mean silhouette
 * there: k-means and silhouettes on the sample only, so that trying a dozen k costs seconds at 10,000 rows.
 */
export function suggestK(vectors: Float32Array, dim: number, from: number, to: number, seed: number, sampleSize = 1000, signal?: AbortSignal): KSuggestion {
  const n = vectors.length / dim;
  const rng = new Random(seed ^ 0x51e7);
  const sample = rng.permutation(n).slice(0, Math.min(sampleSize, n)).sort((a, b) => a - b);
  const rows = new Float32Array(sample.length * dim);
  sample.forEach((i, r) => rows.set(vectors.subarray(i * dim, (i + 1) * dim), r * dim));
  const scores: KSuggestion['scores'] = [];
  for (let k = Math.max(2, from); k <= Math.min(to, sample.length - 1); k++) {
    signal?.throwIfAborted();
    const { assignments } = kMeans(rows, dim, k, seed, { maxIterations: 50 });
    scores.push({ k, silhouette: silhouette(rows, dim, assignments, k) });
  }
  if (!scores.length) return { k: 1, scores };
  const best = scores.reduce((a, b) => (b.silhouette > a.silhouette ? b : a));
  return { k: best.k, scores };
}
