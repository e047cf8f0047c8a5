import { describe, expect, it } from 'vitest';
import { blobs, normaliseRows } from '../../test/blobs';
import { centredRows, meanRow } from './centre';
import { outlierScores, rankOutliers } from './outliers';
import { neighbourLists } from './topk';

async function scores(vectors: Float32Array, dim: number) {
  const { rows, lengths } = centredRows(vectors, dim, meanRow(vectors, dim));
  const { nearest } = await neighbourLists(rows, lengths, dim, 5);
  return { scores: outlierScores(nearest, vectors.length / dim), nearest };
}

describe('outliers', () => {
  it('scores by mean cosine distance to the k nearest and puts planted strays first', async () => {
    const dim = 10;
    const { vectors } = blobs(200, dim, 3, 0.3, 5);
    // Five strays, each along an axis of its own far from every blob.
    const strays = new Float32Array(5 * dim);
    for (let s = 0; s < 5; s++) strays[s * dim + s] = s % 2 ? -40 : 40;
    const all = normaliseRows(Float32Array.from([...vectors, ...strays]), dim);
    const { scores: found, nearest } = await scores(all, dim);
    const ranked = rankOutliers(found);
    expect(ranked.slice(0, 5).sort((a, b) => a - b)).toEqual([200, 201, 202, 203, 204]);
    for (let i = 1; i < ranked.length; i++) expect(found[ranked[i - 1]!]).toBeGreaterThanOrEqual(found[ranked[i]!]!);
    // Row 7's score: its mean cosine distance 1 − cos to its five nearest, on the unit rows as they are.
    const cosine = (i: number, j: number) => Array.from({ length: dim }, (_, d) => all[i * dim + d]! * all[j * dim + d]!).reduce((a, b) => a + b);
    const expected = Array.from({ length: 5 }, (_, j) => 1 - cosine(7, nearest.indices[7 * 5 + j]!)).reduce((a, b) => a + b) / 5;
    expect(found[7]).toBeCloseTo(expected, 5);
    expect(rankOutliers(Float32Array.from([0.5, 0.5, 0.9]))).toEqual([2, 0, 1]);
  });

  it('ranks a row far out along the direction the others spread in first, and the row at their mean last', async () => {
    // Unit rows on an arc about the first axis, spread along the second: one at the mean's direction (the most typical)
    // and one far out along the spread (of another kind, though its centred direction is everybody's).
    const dim = 3;
    const rows: number[] = [];
    for (let i = 0; i < 60; i++) rows.push(1, ((i % 20) - 9.5) * 0.02, Math.floor(i / 20) * 0.05 - 0.05);
    rows.push(1, 0, 0); // typical: 60
    rows.push(1, 2.5, 0); // far out along the spread: 61
    const all = normaliseRows(Float32Array.from(rows), dim);
    const ranked = rankOutliers((await scores(all, dim)).scores);
    expect(ranked[0]).toBe(61);
    expect(ranked.indexOf(60)).toBeGreaterThan(30);
  });
});
