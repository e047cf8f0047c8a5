// Groups without labels: k-means (Lloyd's iterations) with k-means++ seeding (Arthur & Vassilvitskii 2007), every
// random choice drawn from a seeded generator, so that the same run's seed gives the same groups. Plain JS: at
// 10,000 × 512 and k ≤ 30 an iteration is well under a second and the result does not depend on the backend.
import { Random } from '../random';

export interface KMeansResult {
  k: number;
  /** Group of each row. */
  assignments: Int32Array;
  /** k × dim centres, row-major. */
  centres: Float32Array;
  /** Sum of squared distances of rows to their centres. */
  inertia: number;
  iterations: number;
}

export interface KMeansOptions {
  maxIterations?: number;
  /** Stop when no centre moves more than this (squared, relative to the data's mean squared norm). */
  tolerance?: number;
  /** Start from these centres instead of k-means++ (k × dim): how the tests hand scikit-learn's the same start. */
  initialCentres?: Float32Array;
}

function squaredDistance(a: Float32Array, aBase: number, b: Float32Array, bBase: number, dim: number): number {
  let sum = 0;
  for (let j = 0; j < dim; j++) {
    const d = a[aBase + j]! - b[bBase + j]!;
    sum += d * d;
  }
  return sum;
}

/** k-means++ seeding: the first centre uniformly, each next one with probability proportional to D(x)². */
export function kMeansPlusPlus(vectors: Float32Array, dim: number, k: number, rng: Random): Float32Array {
  const n = vectors.length / dim;
  const centres = new Float32Array(k * dim);
  const first = rng.int(n);
  centres.set(vectors.subarray(first * dim, (first + 1) * dim), 0);
  const closest = new Float64Array(n);
  for (let i = 0; i < n; i++) closest[i] = squaredDistance(vectors, i * dim, centres, 0, dim);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += closest[i]!;
    let chosen = n - 1;
    if (total > 0) {
      let target = rng.next() * total;
      for (let i = 0; i < n; i++) {
        target -= closest[i]!;
        if (target < 0) {
          chosen = i;
          break;
        }
      }
    } else chosen = rng.int(n);
    centres.set(vectors.subarray(chosen * dim, (chosen + 1) * dim), c * dim);
    for (let i = 0; i < n; i++) {
      const d = squaredDistance(vectors, i * dim, centres, c * dim, dim);
      if (d < closest[i]!) closest[i] = d;
    }
  }
  return centres;
}

function assign(vectors: Float32Array, dim: number, centres: Float32Array, k: number, assignments: Int32Array): number {
  const n = vectors.length / dim;
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < k; c++) {
      const d = squaredDistance(vectors, i * dim, centres, c * dim, dim);
      // Ties go to the lower group, as scikit-learn's do.
      if (d < bestDistance) {
        bestDistance = d;
        best = c;
      }
    }
    assignments[i] = best;
    inertia += bestDistance;
  }
  return inertia;
}

/**
 * k-means of n × dim rows into k groups (k ≤ n), seeded by k-means++ from `seed` (or the given centres). An emptied
 * group takes the row farthest from its centre, so every group keeps a member. Deterministic for a seed.
 */
export function kMeans(vectors: Float32Array, dim: number, k: number, seed: number, options: KMeansOptions = {}): KMeansResult {
  const n = vectors.length / dim;
  if (!Number.isInteger(n) || n < 1) throw new Error(`k-means needs rows of ${dim}, got ${vectors.length} values`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`k-means needs 1 ≤ k ≤ ${n}, got ${k}`);
  const { maxIterations = 100, tolerance = 1e-6 } = options;
  const centres = options.initialCentres ? Float32Array.from(options.initialCentres) : kMeansPlusPlus(vectors, dim, k, new Random(seed));
  if (centres.length !== k * dim) throw new Error(`k-means: ${centres.length / dim} initial centres for k = ${k}`);
  let meanSquare = 0;
  for (const v of vectors) meanSquare += v * v;
  meanSquare /= n;
  const assignments = new Int32Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  let iterations = 0;
  let inertia = assign(vectors, dim, centres, k, assignments);
  while (iterations < maxIterations) {
    iterations += 1;
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i]!;
      counts[c] = counts[c]! + 1;
      for (let j = 0; j < dim; j++) sums[c * dim + j] = sums[c * dim + j]! + vectors[i * dim + j]!;
    }
    let moved = 0;
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        // The row farthest from its own centre starts the empty group again.
        let far = 0;
        let farDistance = -1;
        for (let i = 0; i < n; i++) {
          const d = squaredDistance(vectors, i * dim, centres, assignments[i]! * dim, dim);
          if (d > farDistance) {
            farDistance = d;
            far = i;
          }
        }
        for (let j = 0; j < dim; j++) sums[c * dim + j] = vectors[far * dim + j]!;
        counts[c] = 1;
      }
      let shift = 0;
      for (let j = 0; j < dim; j++) {
        const next = sums[c * dim + j]! / counts[c]!;
        const d = next - centres[c * dim + j]!;
        shift += d * d;
        centres[c * dim + j] = next;
      }
      moved = Math.max(moved, shift);
    }
    inertia = assign(vectors, dim, centres, k, assignments);
    if (moved <= tolerance * meanSquare) break;
  }
  return { k, assignments, centres, inertia, iterations };
}

/** Per group, its rows nearest the centre first: the group's typical images. */
export function typicalMembers(vectors: Float32Array, dim: number, result: KMeansResult, perGroup: number): number[][] {
  const n = vectors.length / dim;
  const byGroup: { i: number; d: number }[][] = Array.from({ length: result.k }, () => []);
  for (let i = 0; i < n; i++) {
    const c = result.assignments[i]!;
    byGroup[c]!.push({ i, d: squaredDistance(vectors, i * dim, result.centres, c * dim, dim) });
  }
  return byGroup.map((members) => members.sort((a, b) => a.d - b.d || a.i - b.i).slice(0, perGroup).map((m) => m.i));
}

/** Rows per group. */
export function groupSizes(assignments: Int32Array, k: number): number[] {
  const sizes = new Array<number>(k).fill(0);
  for (const c of assignments) sizes[c] += 1;
  return sizes;
}
