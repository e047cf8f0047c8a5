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

/** Each row's k nearest rows by Euclidean distance, nearest first: row i's are at [i·k, (i+1)·k). */
export interface NearestRows {
  k: number;
  indices: Int32Array;
  distances: Float32Array;
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

/** The `keep` largest keys of one row, largest first; equal keys keep the lower index first, as a stable sort would. */
class Best {
  readonly index: Int32Array;
  readonly key: Float64Array;
  filled = 0;

  constructor(private readonly keep: number) {
    this.index = new Int32Array(keep);
    this.key = new Float64Array(keep);
  }

  reset(): void {
    this.filled = 0;
  }

  offer(index: number, key: number): void {
    const keep = this.keep;
    if (this.filled === keep && !(key > this.key[keep - 1]!)) return;
    let at = this.filled < keep ? this.filled++ : keep - 1;
    while (at > 0 && this.key[at - 1]! < key) {
      this.key[at] = this.key[at - 1]!;
      this.index[at] = this.index[at - 1]!;
      at -= 1;
    }
    this.key[at] = key;
    this.index[at] = index;
  }
}

/**
 * Every query row's cosine similarities to every memory row, a tile of queries at a time on the device, handed to
 * `visit(query, similarities, offset)` (the query's similarities are similarities[offset, offset + memory rows)).
 * Leaves no tensor behind; an aborted signal stops it between tiles.
 */
async function forEachSimilarityRow(
  memory: Float32Array,
  queries: Float32Array,
  dim: number,
  options: TopKOptions,
  visit: (query: number, similarities: Float32Array, offset: number) => void,
): Promise<void> {
  const memoryRows = rowsOf(memory, dim, 'top-k memory');
  const queryRows = rowsOf(queries, dim, 'top-k queries');
  if (queryRows === 0 || memoryRows === 0) return;
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
      for (let r = 0; r < rows; r++) visit(start + r, sims, r * memoryRows);
      options.onProgress?.(start + rows, queryRows);
    }
  } finally {
    memoryUnit.dispose();
  }
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`top-k needs k ≥ 1, got ${k}`);
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
  checkK(k);
  const keep = Math.max(0, Math.min(k, memoryRows - (excludeSelf ? 1 : 0)));
  const out: Neighbours = { k: keep, indices: new Int32Array(queryRows * keep), similarities: new Float32Array(queryRows * keep) };
  if (keep === 0) return out;
  const best = new Best(keep);
  await forEachSimilarityRow(memory, queries, dim, options, (query, sims, offset) => {
    best.reset();
    for (let j = 0; j < memoryRows; j++) if (!(excludeSelf && j === query)) best.offer(j, sims[offset + j]!);
    out.indices.set(best.index.subarray(0, best.filled), query * keep);
    for (let j = 0; j < best.filled; j++) out.similarities[query * keep + j] = best.key[j]!;
  });
  return out;
}

/**
 * Two lists for every row of a set, from one pass of tiles: its k most similar other rows by cosine of `unitRows`
 * (what near-duplicates and the groups read), and its k nearest other rows by Euclidean distance between the rows
 * before they were scaled, each unit row times its `lengths` entry (what outlier scores read). The distances come from
 * the same similarities: |a − b|² = |a|² + |b|² − 2·|a|·|b|·cos(a, b), so centred rows give the distances between the
 * rows before centring (a shift changes no distance). Leaves no tensor behind.
 */
export async function neighbourLists(
  unitRows: Float32Array,
  lengths: Float32Array,
  dim: number,
  k: number,
  options: TopKOptions = {},
): Promise<{ similar: Neighbours; nearest: NearestRows }> {
  const rows = rowsOf(unitRows, dim, 'neighbour lists');
  if (lengths.length !== rows) throw new Error(`neighbour lists: ${lengths.length} lengths for ${rows} rows`);
  checkK(k);
  const keep = Math.max(0, Math.min(k, rows - 1));
  const similar: Neighbours = { k: keep, indices: new Int32Array(rows * keep), similarities: new Float32Array(rows * keep) };
  const nearest: NearestRows = { k: keep, indices: new Int32Array(rows * keep), distances: new Float32Array(rows * keep) };
  if (keep === 0) return { similar, nearest };
  const bySimilarity = new Best(keep);
  const byDistance = new Best(keep);
  await forEachSimilarityRow(unitRows, unitRows, dim, options, (query, sims, offset) => {
    bySimilarity.reset();
    byDistance.reset();
    const a = lengths[query]!;
    for (let j = 0; j < rows; j++) {
      if (j === query) continue;
      const s = sims[offset + j]!;
      bySimilarity.offer(j, s);
      const b = lengths[j]!;
      // Largest key first: the negated squared distance (never below 0, which float rounding could give).
      byDistance.offer(j, -Math.max(0, a * a + b * b - 2 * a * b * s));
    }
    similar.indices.set(bySimilarity.index.subarray(0, keep), query * keep);
    nearest.indices.set(byDistance.index.subarray(0, keep), query * keep);
    for (let j = 0; j < keep; j++) {
      similar.similarities[query * keep + j] = bySimilarity.key[j]!;
      nearest.distances[query * keep + j] = Math.sqrt(-byDistance.key[j]!);
    }
  });
  return { similar, nearest };
}
