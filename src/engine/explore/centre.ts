// Representations centred on the folder's mean before any cosine: an encoder's features (an untrained one's most of
// all: every ReLU output is positive) share a large common direction that makes every pair look alike (cosine ≥ 0.95
// for unrelated images). Taking the mean out leaves what tells images apart, so a near-duplicate threshold means the
// same under every representation. Scaling the centred rows to unit length also throws away how far each image is
// from the mean, which similarity does not need and outlier scores do (outliers.ts): the lengths are kept for them.

/** The mean row of n × dim rows. */
export function meanRow(vectors: Float32Array, dim: number): Float32Array {
  const n = vectors.length / dim;
  const sum = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) sum[j] += vectors[i * dim + j]!;
  return Float32Array.from(sum, (s) => (n > 0 ? s / n : 0));
}

/** Rows minus `mean`, each scaled to unit length (a row equal to the mean stays zero), and each one's length before. */
export function centredRows(vectors: Float32Array, dim: number, mean: Float32Array): { rows: Float32Array; lengths: Float32Array } {
  const rows = new Float32Array(vectors.length);
  const lengths = new Float32Array(vectors.length / dim);
  for (let i = 0; i < lengths.length; i++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) {
      const v = vectors[i * dim + j]! - mean[j]!;
      rows[i * dim + j] = v;
      sum += v * v;
    }
    lengths[i] = Math.sqrt(sum);
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < dim; j++) rows[i * dim + j] = rows[i * dim + j]! * scale;
  }
  return { rows, lengths };
}

/** Rows minus `mean`, each scaled to unit length (a row equal to the mean stays zero). A new array. */
export function centredUnitRows(vectors: Float32Array, dim: number, mean: Float32Array): Float32Array {
  return centredRows(vectors, dim, mean).rows;
}
