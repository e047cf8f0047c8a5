import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Random } from '../random';
import { blobs, gaussian, normaliseRows } from '../../test/blobs';
import { centredRows, meanRow } from './centre';
import { cosineTopK, neighbourLists } from './topk';

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

describe('neighbourLists', () => {
  it('gives the cosine list of the centred rows and the Euclidean list of the rows before centring, as brute force does, in one pass', async () => {
    const dim = 9;
    const { vectors } = blobs(157, dim, 4, 1, 11);
    normaliseRows(vectors, dim);
    // A shared direction, as an encoder's rows have: it changes every cosine, and no distance.
    for (let i = 0; i < 157; i++) vectors[i * dim] = vectors[i * dim]! + 3;
    const { rows, lengths } = centredRows(vectors, dim, meanRow(vectors, dim));
    const before = tf.memory().numTensors;
    const { similar, nearest } = await neighbourLists(rows, lengths, dim, 5, { tile: 23 });
    expect(tf.memory().numTensors).toBe(before);
    const cosine = await cosineTopK(rows, rows, dim, 5, true, { tile: 23 });
    expect(similar).toEqual(cosine);
    for (let i = 0; i < 157; i++) {
      const distances = Array.from({ length: 157 }, (_, j) => ({
        index: j,
        distance: Math.hypot(...Array.from({ length: dim }, (_, d) => vectors[i * dim + d]! - vectors[j * dim + d]!)),
      }))
        .filter((d) => d.index !== i)
        .sort((a, b) => a.distance - b.distance || a.index - b.index)
        .slice(0, 5);
      distances.forEach((d, j) => {
        expect(nearest.distances[i * 5 + j]).toBeCloseTo(d.distance, 4);
        const gapBefore = j === 0 ? 1 : d.distance - distances[j - 1]!.distance;
        const gapAfter = j === 4 ? 1 : distances[j + 1]!.distance - d.distance;
        if (gapBefore > 1e-4 && gapAfter > 1e-4) expect(nearest.indices[i * 5 + j]).toBe(d.index);
      });
    }
  });

  it('caps k at the other rows, and a row equal to the mean (length 0) is as far from each row as that row is from the mean', async () => {
    const rows = Float32Array.from([1, 0, 0, 1, 0, 0]);
    const lengths = Float32Array.from([2, 1, 0]);
    const { similar, nearest } = await neighbourLists(rows, lengths, 2, 4);
    expect(similar.k).toBe(2);
    expect(Array.from(nearest.indices.subarray(4, 6))).toEqual([1, 0]);
    expect(Array.from(nearest.distances.subarray(4, 6))).toEqual([1, 2]);
    expect(Array.from(nearest.indices.subarray(0, 2))).toEqual([2, 1]);
    expect(nearest.distances[0]).toBe(2);
    expect(nearest.distances[1]).toBeCloseTo(Math.sqrt(5), 6);
  });
});
