import { describe, expect, it } from 'vitest';
import { outlierScores, rankOutliers } from './outliers';
import { blobs, normaliseRows } from '../../test/blobs';
import { cosineTopK } from './topk';

describe('outliers', () => {
  it('scores by mean distance to the k nearest and puts planted strays first', async () => {
    const dim = 10;
    const { vectors } = blobs(200, dim, 3, 0.3, 5);
    // Five strays, each along an axis of its own far from every blob.
    const strays = new Float32Array(5 * dim);
    for (let s = 0; s < 5; s++) strays[s * dim + s] = s % 2 ? -40 : 40;
    const all = normaliseRows(Float32Array.from([...vectors, ...strays]), dim);
    const neighbours = await cosineTopK(all, all, dim, 5, true);
    const scores = outlierScores(neighbours, 205);
    const ranked = rankOutliers(scores);
    expect(ranked.slice(0, 5).sort((a, b) => a - b)).toEqual([200, 201, 202, 203, 204]);
    for (let i = 1; i < ranked.length; i++) expect(scores[ranked[i - 1]!]).toBeGreaterThanOrEqual(scores[ranked[i]!]!);
    const expected = Array.from({ length: 5 }, (_, j) => 1 - neighbours.similarities[7 * 5 + j]!).reduce((a, b) => a + b) / 5;
    expect(scores[7]).toBeCloseTo(expected, 6);
    expect(rankOutliers(Float32Array.from([0.5, 0.5, 0.9]))).toEqual([2, 0, 1]);
  });
});
