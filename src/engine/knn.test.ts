import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { knnAccuracy, nearestNeighbours, splitForKnn } from './knn';
import { Random } from './random';

function gaussian(rng: Random): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function normaliseRows(values: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < values.length / dim; r++) {
    const row = values.subarray(r * dim, (r + 1) * dim);
    const norm = Math.hypot(...row);
    for (let j = 0; j < dim; j++) row[j] = row[j]! / norm;
  }
  return values;
}

/** Points around `classes` orthogonal axes (noise σ), unit rows, with their labels. */
function clusters(count: number, dim: number, classes: number, sigma: number, rng: Random) {
  const vectors = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % classes;
    for (let j = 0; j < dim; j++) vectors[i * dim + j] = (j === labels[i] ? 1 : 0) + sigma * gaussian(rng);
  }
  return { vectors: normaliseRows(vectors, dim), labels };
}

/** The weighted vote written out in plain JS, to check the tfjs version against. */
function referenceKnn(memory: Float32Array, memoryLabels: Int32Array, queries: Float32Array, queryLabels: Int32Array, dim: number, classes: number, k: number, temperature: number): number {
  let correct = 0;
  for (let q = 0; q < queryLabels.length; q++) {
    const sims = Array.from(memoryLabels, (_, m) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += queries[q * dim + j]! * memory[m * dim + j]!;
      return { s, label: memoryLabels[m]! };
    }).sort((a, b) => b.s - a.s);
    const votes = new Array<number>(classes).fill(0);
    for (const { s, label } of sims.slice(0, k)) votes[label] += Math.exp(s / temperature);
    if (votes.indexOf(Math.max(...votes)) === queryLabels[q]) correct += 1;
  }
  return correct / queryLabels.length;
}

describe('splitForKnn', () => {
  // Class sizes 1, 2, 10, 100, 300, plus unlabelled images (-1), interleaved.
  const sizes = [1, 2, 10, 100, 300];
  const labelList: number[] = [];
  sizes.forEach((size, c) => {
    for (let i = 0; i < size; i++) labelList.push(c);
  });
  for (let i = 0; i < 20; i++) labelList.push(-1);
  const order = new Random(1).permutation(labelList.length);
  const labels = Int32Array.from(order, (i) => labelList[i]!);
  const countByClass = (indices: number[]) => sizes.map((_, c) => indices.filter((i) => labels[i] === c).length);

  it('is disjoint and stratified: about queryFraction of each class as queries, every class of ≥ 2 in both parts', () => {
    const { memory, queries } = splitForKnn(labels, new Random(5));
    expect(new Set([...memory, ...queries]).size).toBe(memory.length + queries.length);
    expect([...memory, ...queries].every((i) => labels[i]! >= 0)).toBe(true);
    expect(memory.length + queries.length).toBe(413);
    expect(countByClass(queries)).toEqual([0, 1, 2, 20, 60]);
    expect(countByClass(memory)).toEqual([1, 1, 8, 80, 240]);
    expect(memory).toEqual([...memory].sort((a, b) => a - b));
  });

  it('respects the caps and still keeps every class in both parts when they leave room', () => {
    const { memory, queries } = splitForKnn(labels, new Random(5), { maxQueries: 10, maxMemory: 50 });
    expect(queries).toHaveLength(10);
    expect(memory).toHaveLength(50);
    const q = countByClass(queries);
    const m = countByClass(memory);
    for (const c of [1, 2, 3, 4]) {
      expect(q[c]).toBeGreaterThanOrEqual(1);
      expect(m[c]).toBeGreaterThanOrEqual(1);
    }
    // Larger classes keep the larger share.
    expect(q[4]).toBeGreaterThan(q[2]!);
    expect(m[4]).toBeGreaterThan(m[3]!);
    expect(m[3]).toBeGreaterThan(m[2]!);
    expect(new Set([...memory, ...queries]).size).toBe(60);
    // A cap smaller than the class count is still respected.
    const tight = splitForKnn(labels, new Random(5), { maxQueries: 2, maxMemory: 3 });
    expect(tight.queries).toHaveLength(2);
    expect(tight.memory).toHaveLength(3);
  });

  it('honours queryFraction and is deterministic for a seed', () => {
    const half = splitForKnn(labels, new Random(9), { queryFraction: 0.5 });
    expect(countByClass(half.queries)).toEqual([0, 1, 5, 50, 150]);
    expect(splitForKnn(labels, new Random(9))).toEqual(splitForKnn(labels, new Random(9)));
    expect(splitForKnn(labels, new Random(9)).queries).not.toEqual(splitForKnn(labels, new Random(10)).queries);
  });

  it('needs two classes, one of them with two images', () => {
    expect(() => splitForKnn(Int32Array.from([0, 0, 0, -1]), new Random(1))).toThrow(/2 classes/);
    expect(() => splitForKnn(Int32Array.from([0, 1, 2]), new Random(1))).toThrow(/at least 2/);
    expect(() => splitForKnn(Int32Array.from([0, 0, 1, 1]), new Random(1), { queryFraction: 1 })).toThrow(/fraction/);
  });
});

describe('knnAccuracy', () => {
  it('is 1 on well-separated clusters', async () => {
    const rng = new Random(2);
    const dim = 8;
    const memory = clusters(60, dim, 4, 0.05, rng);
    const queries = clusters(40, dim, 4, 0.05, rng);
    expect(await knnAccuracy(memory.vectors, memory.labels, queries.vectors, queries.labels, dim, 4)).toBe(1);
  });

  it('is near chance on random labels, and matches a plain-JS weighted vote exactly', async () => {
    const rng = new Random(3);
    const dim = 16;
    const make = (count: number) => ({
      vectors: normaliseRows(Float32Array.from({ length: count * dim }, () => gaussian(rng)), dim),
      labels: Int32Array.from({ length: count }, () => rng.int(2)),
    });
    const memory = make(300);
    const queries = make(400);
    const accuracy = await knnAccuracy(memory.vectors, memory.labels, queries.vectors, queries.labels, dim, 2);
    // Chance is 0.5; with 400 queries the standard error is 0.025.
    expect(Math.abs(accuracy - 0.5)).toBeLessThan(0.1);
    for (const [k, temperature] of [[20, 0.1], [5, 0.5], [1, 0.1]] as const) {
      const expected = referenceKnn(memory.vectors, memory.labels, queries.vectors, queries.labels, dim, 2, k, temperature);
      expect(await knnAccuracy(memory.vectors, memory.labels, queries.vectors, queries.labels, dim, 2, k, temperature)).toBe(expected);
    }
  });

  it('weights by exp(sim / τ): a hand-checked case where the weighted vote and the majority differ', async () => {
    // Query (1, 0). Neighbours: class 0 at sim 0.9; class 1 at 0.8 twice; a class-0 point at 0.75 is 4th.
    // k = 3, τ = 0.1: class 0 gets e^9 ≈ 8103, class 1 gets 2e^8 ≈ 5962 → 0 (the majority says 1).
    // k = 3, τ = 0.5: e^1.8 ≈ 6.05 against 2e^1.6 ≈ 9.91 → 1, as the majority.
    // k = 4, τ = 0.5: e^1.8 + e^1.5 ≈ 10.53 against 9.91 → 0: only the k nearest vote.
    const at = (cos: number, side = 1) => [cos, side * Math.sqrt(1 - cos * cos)];
    const memory = Float32Array.from([...at(0.9), ...at(0.8), ...at(0.8, -1), ...at(0.75), ...at(-1)]);
    const memoryLabels = Int32Array.from([0, 1, 1, 0, 1]);
    const query = Float32Array.from([1, 0]);
    const label0 = Int32Array.from([0]);
    expect(await knnAccuracy(memory, memoryLabels, query, label0, 2, 2, 3, 0.1)).toBe(1);
    expect(await knnAccuracy(memory, memoryLabels, query, label0, 2, 2, 3, 0.5)).toBe(0);
    expect(await knnAccuracy(memory, memoryLabels, query, label0, 2, 2, 4, 0.5)).toBe(1);
    // k larger than the memory: everyone votes (class 0: e^1.8 + e^1.5 + e^-2; class 1: 2e^1.6 + e^-2 → 0 wins).
    expect(await knnAccuracy(memory, memoryLabels, query, label0, 2, 2, 50, 0.5)).toBe(1);
  });

  it('gives the same answer in chunks as in one, and leaves no tensor behind', async () => {
    const rng = new Random(4);
    const dim = 6;
    const memory = clusters(50, dim, 3, 0.6, rng);
    const queries = clusters(37, dim, 3, 0.6, rng);
    const run = (chunk?: number) => knnAccuracy(memory.vectors, memory.labels, queries.vectors, queries.labels, dim, 3, 7, 0.1, chunk);
    const whole = await run(37);
    expect(whole).toBeGreaterThan(0.4);
    expect(whole).toBeLessThan(1); // noisy enough that mistakes exist, so chunking errors would show
    const tensors = tf.memory().numTensors;
    for (const chunk of [1, 5, 36, 100, undefined]) expect(await run(chunk)).toBe(whole);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('refuses inconsistent input', async () => {
    const v = Float32Array.from([1, 0, 0, 1]);
    const l = Int32Array.from([0, 1]);
    await expect(knnAccuracy(v, Int32Array.from([0]), v, l, 2, 2)).rejects.toThrow(/labels/);
    await expect(knnAccuracy(v, Int32Array.from([0, 2]), v, l, 2, 2)).rejects.toThrow(/outside/);
    await expect(knnAccuracy(v, l, Float32Array.from([1, 0, 0]), l, 2, 2)).rejects.toThrow(/rows/);
    await expect(knnAccuracy(v, l, new Float32Array(0), new Int32Array(0), 2, 2)).rejects.toThrow(/queries/);
  });
});

describe('nearestNeighbours', () => {
  // Unit vectors at angles 0°, 10°, 90°, 0° (a duplicate of row 0), 180°, 30°.
  const angles = [0, 10, 90, 0, 180, 30];
  const vectors = Float32Array.from(angles.flatMap((deg) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]));

  it('excludes the query itself, keeps its duplicate, most similar first (hand-checked)', async () => {
    const found = await nearestNeighbours(vectors, 2, 0, 4);
    expect(found.map((f) => f.index)).toEqual([3, 1, 5, 2]);
    const expected = [1, Math.cos(Math.PI / 18), Math.cos(Math.PI / 6), 0];
    found.forEach((f, i) => expect(f.similarity).toBeCloseTo(expected[i]!, 6));
  });

  it('returns at most n − 1 neighbours, sorted, and none for k = 0', async () => {
    const all = await nearestNeighbours(vectors, 2, 2, 100);
    expect(all).toHaveLength(5);
    expect(all.map((f) => f.index)).not.toContain(2);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.similarity).toBeGreaterThanOrEqual(all[i]!.similarity);
    expect(all.slice(0, 2).map((f) => f.index)).toEqual([5, 1]);
    expect(await nearestNeighbours(vectors, 2, 2, 0)).toEqual([]);
    await expect(nearestNeighbours(vectors, 2, 6, 1)).rejects.toThrow(/outside/);
  });

  it('agrees with a full sort on random vectors', async () => {
    const rng = new Random(8);
    const dim = 5;
    const n = 200;
    const random = normaliseRows(Float32Array.from({ length: n * dim }, () => gaussian(rng)), dim);
    const found = await nearestNeighbours(random, dim, 17, 10);
    const sims = Array.from({ length: n }, (_, r) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += random[17 * dim + j]! * random[r * dim + j]!;
      return { index: r, s };
    })
      .filter((x) => x.index !== 17)
      .sort((a, b) => b.s - a.s);
    expect(found.map((f) => f.index)).toEqual(sims.slice(0, 10).map((x) => x.index));
  });
});
