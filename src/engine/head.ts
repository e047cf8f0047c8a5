// Projection head g(·): h → z, where the contrastive loss is computed; plus the optional entropy head.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config';
import { batchNorm, glorotUniform } from './layers';
import { Random } from './random';

/**
 * MLP with batch norm, as google-research/simclr model_util.py ProjectionHead: hidden layers are
 * dense → BN → ReLU at the width of h; the output layer is dense → BN, no ReLU. 2 layers is SimCLR v1, 3 is v2.
 * The reference's output BN has no centring (beta); tfjs-layers 4.22 cannot train a BN layer with center: false
 * (it reads the missing beta in training mode), so ours keeps a beta, which starts at 0.
 */
export function createProjectionHead(inputDim: number, config: Pick<ModelConfig, 'headLayers' | 'projectionDim'>, seed: number): tf.LayersModel {
  if (config.headLayers !== 2 && config.headLayers !== 3) throw new Error(`projection head has 2 or 3 layers, got ${config.headLayers}`);
  if (!(config.projectionDim >= 1)) throw new Error(`projection dimension must be ≥ 1, got ${config.projectionDim}`);
  const rng = new Random(seed);
  const input = tf.input({ shape: [inputDim], name: 'representation_input' });
  let x: tf.SymbolicTensor = input;
  for (let i = 1; i <= config.headLayers; i++) {
    const last = i === config.headLayers;
    x = tf.layers
      .dense({ name: `head${i}_dense`, units: last ? config.projectionDim : inputDim, useBias: false, kernelInitializer: glorotUniform(rng) })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`head${i}_bn`).apply(x) as tf.SymbolicTensor;
    if (!last) x = tf.layers.reLU({ name: `head${i}_relu` }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: 'projection_head' });
}

/**
 * Optional extension (not in the SimCLR papers): a K-way softmax head on z. The step subtracts λ·H(p̄), the
 * entropy of the batch-mean distribution, which rewards spreading the batch over the K outputs.
 */
export function createEntropyHead(projectionDim: number, clusters: number, seed: number): tf.LayersModel {
  if (!(clusters >= 2)) throw new Error(`entropy head needs at least 2 outputs, got ${clusters}`);
  const input = tf.input({ shape: [projectionDim], name: 'projection_input' });
  const logits = tf.layers
    .dense({ name: 'entropy_logits', units: clusters, kernelInitializer: glorotUniform(new Random(seed)) })
    .apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'entropy_head' });
}

/** H(p̄) where p̄ is the batch mean of softmax(logits); at most ln K, reached when the batch is spread evenly. */
export function batchMeanEntropy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const meanProb = tf.mean(tf.softmax(logits), 0);
    return tf.neg(tf.sum(tf.mul(meanProb, tf.log(tf.add(meanProb, 1e-8))))) as tf.Scalar;
  });
}
