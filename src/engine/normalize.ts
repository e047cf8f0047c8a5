// Vector normalisation shared by the methods, the collapse monitor, kNN and embeddings.
import * as tf from '@tensorflow/tfjs';
import { fusedNormalisedStd } from './webgpu/normalisedStd';

/** x / ‖x‖ along the last axis; tfjs has no core l2Normalize. */
export function l2Normalize<T extends tf.Tensor>(x: T, epsilon = 1e-12): T {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), epsilon)))) as T;
}

/**
 * Std over the batch of the L2-normalised rows, averaged over dimensions: ≈ 1/√d healthy, → 0 collapsed (lightly's
 * std_of_l2_normalized). Three programs on WebGPU (webgpu/normalisedStd.ts); not differentiable there.
 */
export function normalisedStd(x: tf.Tensor2D): tf.Scalar {
  const fused = fusedNormalisedStd(x);
  if (fused) return fused;
  return tf.tidy(() => tf.mean(tf.moments(l2Normalize(x), 0).variance.sqrt()) as tf.Scalar);
}
