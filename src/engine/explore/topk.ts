// Nearest neighbours of every image among all the others, by cosine similarity, on the device in tiles: a block of
// queries against all rows at a time, so that no N × N matrix is ever held (10,000 images would need 400 MB). The
// similarities are computed on the device; the k best of each row are picked in JavaScript from the tile read back:
// tfjs's topk on WebGPU runs a sorting network of many small dispatches, 2.6 s for a 400 × 1,000 tile on SwiftShader
// against a few milliseconds for this selection.
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from '../normalize';

/** Each row's k nearest rows, most similar first: row i's are at [i·k, (i+1)·k). */
export interface Neighbours {
  k: number;
  indices: Int32Array;
  similarities: Float32Array;
}

/** Bounds the similarity block [tile, rows] one tile materialises: 4 M floats, 16 MB (as knn.ts does). */
export const SIMILARITY_BUDGET = 1 << 22;

export interface TopKOptions {
  /** Queries per tile; by default what keeps a tile's similarity block under SIMILARITY_BUDGET. */
  tile?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

function rowsOf(values: Float32Array, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`dimension must be a positive integer, got ${dim}`);
  if (values.length % dim !== 0) throw new Error(`${what}: ${values.length} values are not rows of ${dim}`);
  return values.length / dim;
}

/**
 * The k most similar memory rows (cosine) of every query row, in tiles of queries on the device. With
 * `excludeSelf`, queries are the memory rows themselves and each row's own index is left out of its list (an exact
 * duplicate of it may still come first: it is another row). k is capped at the rows available. Leaves no tensor
 * behind; an aborted signal stops it between tiles.
 */
export async function cosineTopK(memory: Float32Array, queries: Float32Array, dim: number, k: number, excludeSelf: boolean, options: TopKOptions = {}): Promise<Neighbours> {
  const memoryRows = rowsOf(memory, dim, 'top-k memory');
  const queryRows = rowsOf(queries, dim, 'top-k queries');
  if (excludeSelf && queries !== memory) throw new Error('top-k without self needs the memory rows as queries');
  if (!Number.isInteger(k) || k < 1) throw new Error(`top-k needs k ≥ 1, got ${k}`);
  const keep = Math.min(k, memoryRows - (excludeSelf ? 1 : 0));
  const out: Neighbours = { k: Math.max(0, keep), indices: new Int32Array(queryRows * Math.max(0, keep)), similarities: new Float32Array(queryRows * Math.max(0, keep)) };
  if (keep <= 0 || queryRows === 0) return out;
  const tile = options.tile ?? Math.max(1, Math.floor(SIMILARITY_BUDGET / memoryRows));
  if (!Number.isInteger(tile) || tile < 1) throw new Error(`top-k tile must be a positive integer, got ${tile}`);
  const memoryUnit = tf.tidy(() => l2Normalize(tf.tensor2d(memory, [memoryRows, dim])));
  try {
    for (let start = 0; start < queryRows; start += tile) {
      options.signal?.throwIfAborted();
      const rows = Math.min(tile, queryRows - start);
      const block = tf.tidy(() => {
        const q = l2Normalize(tf.tensor2d(queries.subarray(start * dim, (start + rows) * dim), [rows, dim]));
        return tf.matMul(q, memoryUnit, false, true);
      });
      let sims: Float32Array;
      try {
        sims = (await block.data()) as Float32Array;
      } finally {
        block.dispose();
      }
      const bestIndex = new Int32Array(keep);
      const bestSimilarity = new Float32Array(keep);
      for (let r = 0; r < rows; r++) {
        const self = start + r;
        let filled = 0;
        const base = r * memoryRows;
        for (let j = 0; j < memoryRows; j++) {
          if (excludeSelf && j === self) continue;
          const similarity = sims[base + j]!;
          // Ties keep the lower index first, as a stable sort would.
          if (filled === keep && !(similarity > bestSimilarity[keep - 1]!)) continue;
          let at = filled < keep ? filled++ : keep - 1;
          while (at > 0 && bestSimilarity[at - 1]! < similarity) {
            bestSimilarity[at] = bestSimilarity[at - 1]!;
            bestIndex[at] = bestIndex[at - 1]!;
            at -= 1;
          }
          bestSimilarity[at] = similarity;
          bestIndex[at] = j;
        }
        out.indices.set(bestIndex.subarray(0, filled), self * keep);
        out.similarities.set(bestSimilarity.subarray(0, filled), self * keep);
      }
      options.onProgress?.(start + rows, queryRows);
    }
  } finally {
    memoryUnit.dispose();
  }
  return out;
}
