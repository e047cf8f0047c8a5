import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Random } from '../random';
import { blobs, gaussian, normaliseRows } from '../../test/blobs';
import { cosineTopK } from './topk';

/** Every pair's similarity in plain JS, each row's best k other rows (ties by index). */
function bruteForce(memory: Float32Array, queries: Float32Array, dim: number, k: number, excludeSelf: boolean) {
  const n = memory.length / dim;
  const q = queries.length / dim;
  return Array.from({ length: q }, (_, i) => {
    const all: { index: number; similarity: number }[] = [];
    for (let j = 0; j < n; j++) {
      if (excludeSelf && j === i) continue;
      let s = 0;
      for (let d = 0; d < dim; d++) s += queries[i * dim + d]! * memory[j * dim + d]!;
      all.push({ index: j, similarity: s });
    }
    return all.sort((a, b) => b.similarity - a.similarity || a.index - b.index).slice(0, k);
  });
}

describe('cosineTopK', () => {
  it('gives what brute force gives, in tiles that do not divide the rows, and leaves no tensor', async () => {
    const dim = 12;
    const { vectors } = blobs(203, dim, 5, 1, 2);
    normaliseRows(vectors, dim);
    const before = tf.memory().numTensors;
    const found = await cosineTopK(vectors, vectors, dim, 6, true, { tile: 17 });
    expect(tf.memory().numTensors).toBe(before);
    const expected = bruteForce(vectors, vectors, dim, 6, true);
    expect(found.k).toBe(6);
    expected.forEach((list, i) => {
      list.forEach((n, j) => {
        expect(found.similarities[i * 6 + j]).toBeCloseTo(n.similarity, 5);
        // Where the similarity is clearly apart from its neighbours in the list, the index must be the same.
        const gapBefore = j === 0 ? 1 : list[j - 1]!.similarity - n.similarity;
        const gapAfter = j === list.length - 1 ? 1 : n.similarity - list[j + 1]!.similarity;
        if (gapBefore > 1e-5 && gapAfter > 1e-5) expect(found.indices[i * 6 + j]).toBe(n.index);
      });
      expect(found.indices.subarray(i * 6, i * 6 + 6)).not.toContain(i);
    });
  });

  it('finds an exact copy of a row as its first neighbour, and never the row itself', async () => {
    const dim = 8;
    const rng = new Random(3);
    const vectors = normaliseRows(Float32Array.from({ length: 40 * dim }, () => gaussian(rng)), dim);
    vectors.copyWithin(39 * dim, 5 * dim, 6 * dim);
    const found = await cosineTopK(vectors, vectors, dim, 3, true, { tile: 8 });
    expect(found.indices[5 * 3]).toBe(39);
    expect(found.indices[39 * 3]).toBe(5);
    expect(found.similarities[5 * 3]).toBeCloseTo(1, 5);
  });

  it('searches other queries against the rows, caps k at the rows there are, and stops on abort', async () => {
    const dim = 4;
    const memory = normaliseRows(Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]), dim);
    const query = Float32Array.from([0.1, 0.9, 0, 0]);
    const found = await cosineTopK(memory, query, dim, 10, false);
    expect(found.k).toBe(3);
    expect(Array.from(found.indices)).toEqual([1, 0, 2]);
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    const before = tf.memory().numTensors;
    await expect(cosineTopK(memory, memory, dim, 1, true, { signal: controller.signal })).rejects.toThrow('cancelled');
    expect(tf.memory().numTensors).toBe(before);
  });
});
