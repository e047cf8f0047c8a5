// Reference levels of SimCLR's diagnostics: plain numbers with no tfjs, so the page can draw and judge them too.

/** The loss when all embeddings coincide: ln(2N − 1). A loss stuck here means nothing is being learnt. */
export function collapsedLoss(batchSize: number): number {
  return Math.log(2 * batchSize - 1);
}

/** Healthy level of the embedding std for d-dimensional L2-normalised embeddings (lightly's 1/√d). */
export function healthyEmbeddingStd(dim: number): number {
  return 1 / Math.sqrt(dim);
}
