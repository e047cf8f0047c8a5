// The Explore map: a 2-D PCA of every image's representation, in plain JS without forming the d × d covariance
// (pca.ts does, on the device: at 3,072 raw-pixel values that is 9.4 M entries and a slow power iteration on a
// software adapter). Orthogonal iteration on Xᵀ(X V) costs 4·n·d a step, then the 2 × 2 Rayleigh–Ritz problem
// orders the two directions.
import { Random } from '../random';

const MAX_ITERATIONS = 500;
/** Stop when 1 − |det(VᵀW)| (about half the squared angle the subspace turned) falls below this. */
const TOLERANCE = 1e-12;

/** X·V for centred rows X (n × d) and V (d × 2, column-interleaved): n × 2. */
function project(x: Float32Array, n: number, d: number, mean: Float64Array, v: Float64Array): Float64Array {
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < d; j++) {
      const value = x[i * d + j]! - mean[j]!;
      a += value * v[2 * j]!;
      b += value * v[2 * j + 1]!;
    }
    out[2 * i] = a;
    out[2 * i + 1] = b;
  }
  return out;
}

/** Xᵀ·P for centred rows X and P (n × 2): d × 2. */
function back(x: Float32Array, n: number, d: number, mean: Float64Array, p: Float64Array): Float64Array {
  const out = new Float64Array(d * 2);
  for (let i = 0; i < n; i++) {
    const a = p[2 * i]!;
    const b = p[2 * i + 1]!;
    for (let j = 0; j < d; j++) {
      const value = x[i * d + j]! - mean[j]!;
      out[2 * j] += value * a;
      out[2 * j + 1] += value * b;
    }
  }
  return out;
}

/** Gram–Schmidt on the two columns; a column that vanishes becomes zero. */
function orthonormalise(v: Float64Array, d: number): void {
  let n0 = 0;
  for (let j = 0; j < d; j++) n0 += v[2 * j]! ** 2;
  n0 = Math.sqrt(n0);
  for (let j = 0; j < d; j++) v[2 * j] = n0 > 0 ? v[2 * j]! / n0 : 0;
  let dot = 0;
  for (let j = 0; j < d; j++) dot += v[2 * j]! * v[2 * j + 1]!;
  let n1 = 0;
  for (let j = 0; j < d; j++) {
    v[2 * j + 1] = v[2 * j + 1]! - dot * v[2 * j]!;
    n1 += v[2 * j + 1]! ** 2;
  }
  n1 = Math.sqrt(n1);
  for (let j = 0; j < d; j++) v[2 * j + 1] = n1 > 1e-12 ? v[2 * j + 1]! / n1 : 0;
}

/**
 * n × 2 PCA coordinates (x and y interleaved) of n × d rows: centred, projected on the two directions of largest
 * variance, each direction's sign fixed so that its largest-magnitude loading is positive. Deterministic.
 */
export function pcaMap(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * 2);
  if (n < 2 || d < 1) return out;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j] = mean[j]! / n;
  const rng = new Random(0x9ca2d);
  let v: Float64Array = Float64Array.from({ length: 2 * d }, () => rng.uniform(-1, 1));
  orthonormalise(v, d);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    const next = back(x, n, d, mean, project(x, n, d, mean, v));
    orthonormalise(next, d);
    // The subspace has settled when the new basis lies in the old one: |VᵀW| has singular values near 1.
    let a = 0;
    let b = 0;
    let c = 0;
    let e = 0;
    for (let j = 0; j < d; j++) {
      a += v[2 * j]! * next[2 * j]!;
      b += v[2 * j]! * next[2 * j + 1]!;
      c += v[2 * j + 1]! * next[2 * j]!;
      e += v[2 * j + 1]! * next[2 * j + 1]!;
    }
    v = next;
    if (1 - Math.abs(a * e - b * c) < TOLERANCE) break;
  }
  // Rayleigh–Ritz: the 2 × 2 matrix (XV)ᵀ(XV), diagonalised, orders and rotates the two directions.
  const p = project(x, n, d, mean, v);
  let s00 = 0;
  let s01 = 0;
  let s11 = 0;
  for (let i = 0; i < n; i++) {
    s00 += p[2 * i]! ** 2;
    s01 += p[2 * i]! * p[2 * i + 1]!;
    s11 += p[2 * i + 1]! ** 2;
  }
  const theta = 0.5 * Math.atan2(2 * s01, s00 - s11);
  const [cos, sin] = [Math.cos(theta), Math.sin(theta)];
  const directions = new Float64Array(2 * d);
  for (let j = 0; j < d; j++) {
    directions[2 * j] = cos * v[2 * j]! + sin * v[2 * j + 1]!;
    directions[2 * j + 1] = -sin * v[2 * j]! + cos * v[2 * j + 1]!;
  }
  for (let k = 0; k < 2; k++) {
    let best = 0;
    for (let j = 1; j < d; j++) if (Math.abs(directions[2 * j + k]!) > Math.abs(directions[2 * best + k]!)) best = j;
    if (directions[2 * best + k]! < 0) for (let j = 0; j < d; j++) directions[2 * j + k] = -directions[2 * j + k]!;
  }
  const coords = project(x, n, d, mean, directions);
  for (let i = 0; i < 2 * n; i++) out[i] = coords[i]! + 0;
  return out;
}
