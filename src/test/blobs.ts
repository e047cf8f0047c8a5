// Points for the explore tests: seeded Gaussian blobs, unit rows on request.
import { Random } from '../engine/random';

export function gaussian(rng: Random): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** `count` rows of `dim` around `blobs` random centres (spread `spread`, noise σ); labels are the blob of each row. */
export function blobs(count: number, dim: number, blobCount: number, sigma: number, seed: number, spread = 5): { vectors: Float32Array; labels: Int32Array } {
  const rng = new Random(seed);
  const centres = Array.from({ length: blobCount * dim }, () => spread * gaussian(rng));
  const vectors = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const b = i % blobCount;
    labels[i] = b;
    for (let j = 0; j < dim; j++) vectors[i * dim + j] = centres[b * dim + j]! + sigma * gaussian(rng);
  }
  return { vectors, labels };
}

export function normaliseRows(values: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < values.length / dim; r++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += values[r * dim + j]! ** 2;
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < dim; j++) values[r * dim + j] = values[r * dim + j]! * scale;
  }
  return values;
}
