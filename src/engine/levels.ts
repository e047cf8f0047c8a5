// Reference levels every method shares: plain numbers with no tfjs, so the page can draw and judge them too. A method's
// own levels (SimCLR's ln(2N − 1)) are in its file (src/engine/methods).

/** Healthy level of the embedding std for d-dimensional L2-normalised embeddings (lightly's 1/√d). */
export function healthyEmbeddingStd(dim: number): number {
  return 1 / Math.sqrt(dim);
}
