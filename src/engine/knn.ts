// kNN evaluation on frozen representations: the monitor the recipe describes (cosine similarity, weighted vote
// exp(sim / τ) as in InstDisc and lightly's knn_predict; k = 20 for small sets, τ = 0.1).
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from './normalize';
import type { Random } from './random';

export interface KnnSplit {
  memory: number[];
  queries: number[];
}

/**
 * Shares of `total` for classes wanting `wants[c]`: all of them if they fit; otherwise one for each class that wants
 * any (largest wants first, while there are enough), and the rest in proportion by largest remainder, in integers.
 */
function allocate(wants: number[], total: number): number[] {
  const sum = wants.reduce((a, b) => a + b, 0);
  if (sum <= total) return wants.slice();
  const wanting = wants.map((w, c) => ({ w, c })).filter(({ w }) => w > 0);
  wanting.sort((a, b) => b.w - a.w || a.c - b.c);
  const shares = wants.map(() => 0);
  const floors = wanting.slice(0, Math.min(total, wanting.length));
  for (const { c } of floors) shares[c] = 1;
  const rest = total - floors.length;
  if (rest === 0) return shares;
  // Every wanting class has its one here, so what is left to want is w − 1, and it exceeds `rest`.
  const left = floors.map(({ w, c }) => ({ c, want: w - 1 }));
  const leftSum = left.reduce((a, { want }) => a + want, 0);
  const remainders = left.map(({ c, want }) => {
    shares[c] += Math.floor((rest * want) / leftSum);
    return { c, remainder: (rest * want) % leftSum };
  });
  let handedOut = left.reduce((a, { c }) => a + shares[c]! - 1, 0);
  remainders.sort((a, b) => b.remainder - a.remainder || a.c - b.c);
  for (const { c } of remainders) {
    if (handedOut >= rest) break;
    shares[c] += 1;
    handedOut += 1;
  }
  return shares;
}

/**
 * A fixed held-out split of labelled images for kNN monitoring: stratified per class, `queryFraction` (default 0.2)
 * of each class as queries, at most maxQueries (default 1000) queries and maxMemory (default 5000) memory images
 * overall; deterministic from rng. Needs ≥ 2 classes; throws otherwise.
 *
 * A class with ≥ 2 images always has at least one query and one memory image (when the caps leave room for one per
 * class); a class with a single image goes to memory. Negative labels mean "unlabelled" and are left out. Both lists
 * come back in ascending index order.
 */
export function splitForKnn(
  labels: Int32Array,
  rng: Random,
  options: { queryFraction?: number; maxQueries?: number; maxMemory?: number } = {},
): KnnSplit {
  const { queryFraction = 0.2, maxQueries = 1000, maxMemory = 5000 } = options;
  if (!(queryFraction > 0 && queryFraction < 1)) throw new Error(`kNN query fraction must be in (0, 1), got ${queryFraction}`);
  if (!(maxQueries >= 1) || !(maxMemory >= 1)) throw new Error(`kNN caps must be ≥ 1, got ${maxQueries} queries and ${maxMemory} memory`);
  const byClass = new Map<number, number[]>();
  labels.forEach((label, index) => {
    if (label < 0) return;
    const members = byClass.get(label);
    if (members) members.push(index);
    else byClass.set(label, [index]);
  });
  if (byClass.size < 2) throw new Error(`kNN needs labelled images of at least 2 classes, got ${byClass.size}`);
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const shuffled = classes.map((label) => {
    const members = byClass.get(label)!;
    return rng.permutation(members.length).map((i) => members[i]!);
  });
  const queryWants = shuffled.map((m) => (m.length < 2 ? 0 : Math.min(m.length - 1, Math.max(1, Math.round(queryFraction * m.length)))));
  if (queryWants.every((q) => q === 0)) throw new Error('kNN needs a class with at least 2 labelled images');
  const queryShares = allocate(queryWants, Math.floor(maxQueries));
  const memoryShares = allocate(
    shuffled.map((m, c) => m.length - queryWants[c]!),
    Math.floor(maxMemory),
  );
  const queries: number[] = [];
  const memory: number[] = [];
  shuffled.forEach((members, c) => {
    const q = queryWants[c]!;
    queries.push(...members.slice(0, queryShares[c]));
    memory.push(...members.slice(q, q + memoryShares[c]!));
  });
  queries.sort((a, b) => a - b);
  memory.sort((a, b) => a - b);
  return { memory, queries };
}

function rowCount(vectors: Float32Array, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`dimension must be a positive integer, got ${dim}`);
  if (vectors.length % dim !== 0) throw new Error(`${what}: ${vectors.length} values are not rows of ${dim}`);
  return vectors.length / dim;
}

function checkLabels(labels: Int32Array, rows: number, classes: number, what: string): void {
  if (labels.length !== rows) throw new Error(`${what}: ${labels.length} labels for ${rows} rows`);
  for (const label of labels) {
    if (label < 0 || label >= classes) throw new Error(`${what}: label ${label} is outside 0..${classes - 1}`);
  }
}

/** Bounds the similarity block [queries, memory] a chunk materialises: 4 M floats, 16 MB. */
const SIMILARITY_BUDGET = 1 << 22;

/**
 * Weighted kNN accuracy (lightly / InstDisc style): cosine similarity of L2-normalised rows, the k most similar
 * memory rows vote with weight exp(sim / temperature) for their class; accuracy = fraction of queries whose top
 * class equals their label. Computed with tfjs (matMul + topK) in chunks of queries so memory stays bounded; await
 * data() only.
 *
 * Rows are normalised again on the device, so any nonzero vectors work. k is capped at the memory size; a tie
 * between classes goes to the lower class id. `queryChunk` (queries per chunk) defaults to what keeps the
 * similarity block under 4 M floats. On WebGL keep k ≤ 128: above that tfjs hands topK to the CPU with a sync read.
 */
export async function knnAccuracy(
  memory: Float32Array,
  memoryLabels: Int32Array,
  queries: Float32Array,
  queryLabels: Int32Array,
  dim: number,
  classes: number,
  k = 20,
  temperature = 0.1,
  queryChunk?: number,
): Promise<number> {
  const memoryRows = rowCount(memory, dim, 'kNN memory');
  const queryRows = rowCount(queries, dim, 'kNN queries');
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`kNN needs a positive class count, got ${classes}`);
  checkLabels(memoryLabels, memoryRows, classes, 'kNN memory');
  checkLabels(queryLabels, queryRows, classes, 'kNN queries');
  if (memoryRows === 0 || queryRows === 0) throw new Error(`kNN needs memory and queries, got ${memoryRows} and ${queryRows}`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`kNN k must be a positive integer, got ${k}`);
  if (!(temperature > 0)) throw new Error(`kNN temperature must be > 0, got ${temperature}`);
  const chunk = queryChunk ?? Math.max(1, Math.floor(SIMILARITY_BUDGET / memoryRows));
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`kNN query chunk must be a positive integer, got ${chunk}`);
  const neighbours = Math.min(k, memoryRows);

  const memoryUnit = tf.tidy(() => l2Normalize(tf.tensor2d(memory, [memoryRows, dim])));
  const memoryClass = tf.tensor1d(memoryLabels, 'int32');
  let correct = 0;
  try {
    for (let start = 0; start < queryRows; start += chunk) {
      const rows = Math.min(chunk, queryRows - start);
      const predicted = tf.tidy(() => {
        const q = l2Normalize(tf.tensor2d(queries.subarray(start * dim, (start + rows) * dim), [rows, dim]));
        const similarity = tf.matMul(q, memoryUnit, false, true);
        const { values, indices } = tf.topk(similarity, neighbours);
        const weights = tf.exp(tf.div(values, temperature));
        const votes = tf.sum(tf.mul(tf.oneHot(tf.gather(memoryClass, indices), classes), tf.expandDims(weights, 2)), 1);
        return tf.argMax(votes, 1);
      });
      try {
        const classOf = await predicted.data();
        for (let i = 0; i < rows; i++) if (classOf[i] === queryLabels[start + i]) correct += 1;
      } finally {
        predicted.dispose();
      }
    }
  } finally {
    tf.dispose([memoryUnit, memoryClass]);
  }
  return correct / queryRows;
}

/**
 * The k rows most similar (cosine; rows are already L2-normalised) to row `query`, excluding itself, most similar
 * first.
 *
 * Plain JS: one pass of n dot products is cheaper than uploading the rows for a hover lookup. Equal similarities
 * come in index order; fewer than k come back when there are fewer other rows.
 */
export async function nearestNeighbours(vectors: Float32Array, dim: number, query: number, k: number): Promise<{ index: number; similarity: number }[]> {
  const n = rowCount(vectors, dim, 'nearest neighbours');
  if (!Number.isInteger(query) || query < 0 || query >= n) throw new Error(`query row ${query} is outside 0..${n - 1}`);
  const keep = Math.max(0, Math.min(Math.floor(k), n - 1));
  const best: { index: number; similarity: number }[] = [];
  if (keep === 0) return best;
  const q = vectors.subarray(query * dim, (query + 1) * dim);
  for (let row = 0; row < n; row++) {
    if (row === query) continue;
    let similarity = 0;
    const base = row * dim;
    for (let j = 0; j < dim; j++) similarity += q[j]! * vectors[base + j]!;
    if (best.length === keep && !(similarity > best[keep - 1]!.similarity)) continue;
    // Insertion into the sorted top-k: k is small next to n.
    let at = best.length;
    while (at > 0 && best[at - 1]!.similarity < similarity) at -= 1;
    best.splice(at, 0, { index: row, similarity });
    if (best.length > keep) best.pop();
  }
  return best;
}
