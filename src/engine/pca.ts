// 2-D PCA of representations for the embedding scatter: covariance on the device, then power iteration with
// deflation in plain matMuls (tf.linalg's eigen/SVD kernels are not there on every backend).
import * as tf from '@tensorflow/tfjs';
import { Random } from './random';

/** Iterations between convergence checks: one two-number read-back per block keeps the GPU queue full. */
const CHECK_EVERY = 10;
const MAX_ITERATIONS = 1000;
/**
 * Stop when v is an eigenvector to within ‖Mv − ρv‖ ≤ this × λ₁. Its angle to the true one is then at most this ×
 * λ₁ / gap, and when two eigenvalues nearly coincide, any direction in their plane shows the data equally well:
 * iterating on would cost hundreds of steps for a picture that does not change.
 */
const RESIDUAL_TOLERANCE = 1e-4;
/** A component whose variance is below this fraction of the total is treated as absent (rank-deficient input). */
const NEGLIGIBLE_VARIANCE = 1e-10;

/**
 * Unit-norm top eigenvector [d, 1] of the symmetric PSD `matrix`, orthogonal to `against` if given, by power
 * iteration; `scale` is λ₁ for the residual test (null: use this matrix's own top eigenvalue).
 */
async function topEigenvector(matrix: tf.Tensor2D, start: tf.Tensor2D, against: tf.Tensor2D | null, scale: number | null): Promise<tf.Tensor2D> {
  const orthogonalise = (v: tf.Tensor2D): tf.Tensor2D =>
    against ? tf.sub(v, tf.mul(against, tf.sum(tf.mul(v, against)))) : v;
  const normalise = (v: tf.Tensor2D): tf.Tensor2D => tf.div(v, tf.add(tf.norm(v), 1e-30));
  let v = tf.tidy(() => normalise(orthogonalise(start)));
  for (let done = 0; done < MAX_ITERATIONS; done += CHECK_EVERY) {
    const [next, check] = tf.tidy(() => {
      let x = v;
      // Re-orthogonalising every step keeps rounding from letting the deflated direction creep back in.
      for (let i = 0; i < CHECK_EVERY; i++) x = normalise(orthogonalise(tf.matMul(matrix, x)));
      const mx = tf.matMul(matrix, x);
      const rho = tf.sum(tf.mul(x, mx));
      return [x, tf.stack([rho, tf.norm(tf.sub(mx, tf.mul(rho, x)))])];
    });
    v.dispose();
    v = next;
    const [rho, residual] = await check.data();
    check.dispose();
    if (residual! <= RESIDUAL_TOLERANCE * Math.abs(scale ?? rho!)) break;
  }
  return v;
}

/** +1 or −1 so that the largest-magnitude loading (the first, on ties) comes out positive. */
function signOf(direction: Float32Array): number {
  let best = 0;
  for (let i = 1; i < direction.length; i++) if (Math.abs(direction[i]!) > Math.abs(direction[best]!)) best = i;
  return direction[best]! < 0 ? -1 : 1;
}

/**
 * 2-D PCA projection of n × d rows: centre, top-2 principal directions (via the d×d covariance and power iteration
 * with deflation), returns n × 2 floats row-major. Deterministic: each component's sign is fixed so its
 * largest-magnitude loading is positive. Handles n < 2 or d < 2 (zeros for missing components). Await data() only.
 */
export async function pca2d(vectors: Float32Array, n: number, dim: number): Promise<Float32Array> {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(dim) || dim < 0) throw new Error(`pca2d: bad shape ${n} × ${dim}`);
  if (vectors.length !== n * dim) throw new Error(`pca2d: ${vectors.length} values for ${n} × ${dim}`);
  const out = new Float32Array(n * 2);
  if (n < 2 || dim < 1) return out;

  const centred = tf.tidy(() => {
    const x = tf.tensor2d(vectors, [n, dim]);
    return tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
  });
  const covariance = tf.tidy(() => tf.div(tf.matMul(centred, centred, true, false), n - 1) as tf.Tensor2D);
  // A fixed pseudo-random start: almost surely not orthogonal to the top direction, and the same every call.
  const rng = new Random(0x9ca2d);
  const start = tf.tensor2d(Float32Array.from({ length: dim }, () => rng.uniform(-1, 1)), [dim, 1]);
  const owned: tf.Tensor[] = [centred, covariance, start];
  try {
    const trace = await readScalar(tf.tidy(() => tf.div(tf.sum(tf.square(centred)), n - 1)));
    let sumSquares = 0;
    for (const value of vectors) sumSquares += value * value;
    const meanSquare = sumSquares / (n - 1);
    // Every row the same point (up to the rounding of the mean): nothing to project onto.
    if (!(trace > NEGLIGIBLE_VARIANCE * meanSquare)) return out;

    const directions: tf.Tensor2D[] = [];
    let topVariance: number | null = null;
    let deflated = covariance;
    for (let component = 0; component < Math.min(2, dim); component++) {
      const v = await topEigenvector(deflated, start, directions[0] ?? null, topVariance);
      owned.push(v);
      // Rayleigh quotient on the full covariance: the variance along v.
      const variance = await readScalar(tf.tidy(() => tf.sum(tf.mul(v, tf.matMul(covariance, v)))));
      if (!(variance > NEGLIGIBLE_VARIANCE * trace)) break;
      topVariance ??= variance;
      const loadings = (await v.data()) as Float32Array;
      const signed = tf.tidy(() => tf.mul(v, signOf(loadings))) as tf.Tensor2D;
      owned.push(signed);
      directions.push(signed);
      if (component === 0 && dim > 1) {
        // Deflation: remove the found component so the next power iteration finds the second.
        deflated = tf.tidy(() => tf.sub(covariance, tf.mul(variance, tf.matMul(signed, signed, false, true))));
        owned.push(deflated);
      }
    }
    if (directions.length === 0) return out;
    const projected = tf.tidy(() => tf.matMul(centred, tf.concat(directions, 1)));
    owned.push(projected);
    const scores = (await projected.data()) as Float32Array;
    const found = directions.length;
    for (let i = 0; i < n; i++) for (let c = 0; c < found; c++) out[i * 2 + c] = scores[i * found + c]!;
    return out;
  } finally {
    tf.dispose(owned);
  }
}

async function readScalar(t: tf.Tensor): Promise<number> {
  try {
    return (await t.data())[0]!;
  } finally {
    t.dispose();
  }
}
