// NT-Xent, the SimCLR contrastive loss (Chen et al. 2020, eq. 1; google-research/simclr objective.py).
import * as tf from '@tensorflow/tfjs';

/**
 * The reference code masks self-similarity by subtracting this constant from the logits (LARGE_NUM in
 * objective.py) rather than using -Infinity, which shader maths may assume never occurs.
 */
export const SELF_MASK = 1e9;

/** x / ‖x‖ along the last axis; tfjs has no core l2Normalize. */
export function l2Normalize<T extends tf.Tensor>(x: T, epsilon = 1e-12): T {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), epsilon)))) as T;
}

export interface NtXentParts {
  /** Mean over all 2N anchors of −log softmax(positive): both directions averaged. */
  loss: tf.Scalar;
  /** How often the positive is the most similar of the 2N − 1 other views (the reference code's training metric). */
  contrastiveAcc: tf.Scalar;
  /** Std over the batch of the L2-normalised embeddings, averaged over dimensions: ≈ 1/√d healthy, → 0 collapsed. */
  embeddingStd: tf.Scalar;
}

/**
 * The loss with its two diagnostics from one pass. Row i of z1 and row i of z2 are the two views of image i;
 * neither needs to be normalised. Each anchor sees 1 positive and 2N − 2 negatives.
 */
export function ntXentParts(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): NtXentParts {
  if (z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) {
    throw new Error(`ntXent: views differ in shape: [${z1.shape}] vs [${z2.shape}]`);
  }
  if (!(temperature > 0)) throw new Error(`ntXent: temperature must be > 0, got ${temperature}`);
  const n = z1.shape[0];
  return tf.tidy(() => {
    const z = l2Normalize(tf.concat([z1, z2], 0));
    const logits = tf.sub(tf.div(tf.matMul(z, z, false, true), temperature), tf.mul(tf.eye(2 * n), SELF_MASK));
    // The positive of anchor i is its other view: i + N for the first half, i − N for the second.
    const positives = tf.tensor1d(Array.from({ length: 2 * n }, (_, i) => (i + n) % (2 * n)), 'int32');
    const logProb = tf.sub(logits, tf.logSumExp(logits, 1, true));
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(logProb, tf.oneHot(positives, 2 * n)), 1))) as tf.Scalar;
    const contrastiveAcc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), positives), 'float32')) as tf.Scalar;
    const embeddingStd = tf.mean(tf.moments(z, 0).variance.sqrt()) as tf.Scalar;
    return { loss, contrastiveAcc, embeddingStd };
  });
}

/** NT-Xent loss of two batches of views (row i of z1 and of z2 are the views of image i). */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  const { loss, contrastiveAcc, embeddingStd } = ntXentParts(z1, z2, temperature);
  contrastiveAcc.dispose();
  embeddingStd.dispose();
  return loss;
}

export { collapsedLoss, healthyEmbeddingStd } from './levels';
