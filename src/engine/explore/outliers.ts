// Outliers: images far from their own nearest neighbours (the k-NN distance score of Ramaswamy et al. 2000, averaged
// over k as in Angiulli & Pizzuti 2002), on the unit-length representations as they are, not centred: the nearest
// neighbours by Euclidean distance on normalised features, as Sun et al. 2022 ("Out-of-distribution detection with
// deep nearest neighbors") score. Cosine similarity after centring would not do: scaling each centred row to unit
// length throws away how far the image lies from the folder's mean, so that a picture far out along a direction the
// folder's own spread shares (black-and-white stripes, a blank image) looks like the ordinary pictures a little way
// out the same way, and a picture close to the mean (the most typical kind) gets an arbitrary direction and can
// score as the most unusual (scripts/explore-planted.ts measures both; README's Explore section gives the figures).
import type { NearestRows } from './topk';

/**
 * Per image, the mean of d²/2 over its k nearest (k ≤ the lists' k), d the Euclidean distance: for unit rows, the
 * mean cosine distance 1 − cos to them.
 */
export function outlierScores(nearest: NearestRows, count: number, k = nearest.k): Float32Array {
  const used = Math.min(k, nearest.k);
  const out = new Float32Array(count);
  if (used === 0) return out;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let j = 0; j < used; j++) sum += nearest.distances[i * nearest.k + j]! ** 2 / 2;
    out[i] = sum / used;
  }
  return out;
}

/** Image indices from the most outlying down; equal scores in index order. */
export function rankOutliers(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}
