// UMAP (McInnes et al. 2018) of representations, on request: slower than PCA but shows clusters PCA folds over
// each other. umap-js runs on the CPU, so it is capped and stepped, yielding between chunks of epochs.
import { UMAP } from 'umap-js';
import { Random } from './random';

/** Above this UMAP takes too long in a tab (the Embedding Projector uses the same cap). */
export const UMAP_MAX_POINTS = 5000;

export async function umap2d(
  vectors: Float32Array,
  n: number,
  dim: number,
  seed: number,
  options: { onProgress?(epoch: number, epochs: number): void; nextTask?(): Promise<void> } = {},
): Promise<Float32Array> {
  if (vectors.length !== n * dim) throw new Error(`umap2d: ${vectors.length} values are not ${n} × ${dim}`);
  if (n > UMAP_MAX_POINTS) throw new Error(`UMAP is limited to ${UMAP_MAX_POINTS} points, got ${n}`);
  const out = new Float32Array(2 * n);
  // UMAP needs a neighbourhood; with 3 points or fewer any layout is as good.
  if (n <= 3) return out;
  const rows = Array.from({ length: n }, (_, i) => Array.from(vectors.subarray(i * dim, (i + 1) * dim)));
  const rng = new Random(seed);
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(15, n - 1), minDist: 0.1, random: () => rng.next() });
  const epochs = umap.initializeFit(rows);
  for (let epoch = 0; epoch < epochs; ) {
    // About twenty chunks: progress for the page, and room for other messages in between.
    const until = Math.min(epochs, epoch + Math.max(1, Math.ceil(epochs / 20)));
    while (epoch < until) epoch = umap.step();
    options.onProgress?.(epoch, epochs);
    await options.nextTask?.();
  }
  umap.getEmbedding().forEach(([x, y], i) => {
    out[2 * i] = x!;
    out[2 * i + 1] = y!;
  });
  return out;
}
