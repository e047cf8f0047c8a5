// Outliers: images far from their own nearest neighbours (the k-NN distance score of Ramaswamy et al. 2000, averaged
// over k as in Angiulli & Pizzuti 2002), on cosine distance 1 − similarity.
import type { Neighbours } from './topk';

/** Per image, the mean cosine distance to its k nearest neighbours (k ≤ the lists' k). */
export function outlierScores(neighbours: Neighbours, count: number, k = neighbours.k): Float32Array {
  const used = Math.min(k, neighbours.k);
  const out = new Float32Array(count);
  if (used === 0) return out;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let j = 0; j < used; j++) sum += 1 - neighbours.similarities[i * neighbours.k + j]!;
    out[i] = sum / used;
  }
  return out;
}

/** Image indices from the most outlying down; equal scores in index order. */
export function rankOutliers(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}
