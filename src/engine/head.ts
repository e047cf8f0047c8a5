// Heads on the representation: MLPs (projections, predictors) and the optional entropy head.
import * as tf from '@tensorflow/tfjs';
import type { MlpOptions } from './methods/method';
import { batchNorm, dense, denseKernel, glorotUniform, relu, torchBias } from './layers';
import { Random } from './random';

/**
 * An MLP head: each hidden layer is dense → BN → ReLU (no bias: the BN's shift takes its place), the output layer dense
 * → BN (google-research/simclr model_util.py ProjectionHead) or a dense layer with a bias (BYOL's projector and
 * predictor). The reference's output BN has no centring (beta); tfjs-layers 4.22 cannot train a BN
 * layer with center: false (it reads the missing beta in training mode), so ours keeps a beta, which starts at 0.
 */
export function createMlp(options: MlpOptions): tf.LayersModel {
  const { name, layerPrefix, inputDim, hidden, outputDim, outputBatchNorm, hiddenBatchNorm = true, seed, init = 'torch' } = options;
  if (!(outputDim >= 1)) throw new Error(`${name}: output dimension must be ≥ 1, got ${outputDim}`);
  const rng = new Random(seed);
  const input = tf.input({ shape: [inputDim], name: `${layerPrefix}_input` });
  let x: tf.SymbolicTensor = input;
  const widths = [...hidden, outputDim];
  widths.forEach((units, i) => {
    const last = i === widths.length - 1;
    const bn = last ? outputBatchNorm : hiddenBatchNorm;
    const fanIn = i === 0 ? inputDim : widths[i - 1]!;
    x = dense({
        name: `${layerPrefix}${i + 1}_dense`,
        units,
        useBias: !bn,
        kernelInitializer: denseKernel(init, rng),
        // Keras starts a bias at zero; PyTorch draws it like the weights.
        ...(!bn && init === 'torch' ? { biasInitializer: torchBias(fanIn, rng) } : {}),
      }).apply(x) as tf.SymbolicTensor;
    // A ReLU after it is its only reader: the batch norm trains with it (batchNormLayer.ts's rectifies).
    if (bn) x = batchNorm(`${layerPrefix}${i + 1}_bn`, { rectifies: !last }).apply(x) as tf.SymbolicTensor;
    if (!last) x = relu(`${layerPrefix}${i + 1}_relu`).apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ inputs: input, outputs: x, name });
}

/**
 * Optional extension (not in the SimCLR papers): a K-way softmax head on z. The step subtracts λ·H(p̄), the
 * entropy of the batch-mean distribution, which rewards spreading the batch over the K outputs.
 */
export function createEntropyHead(projectionDim: number, clusters: number, seed: number): tf.LayersModel {
  if (!(clusters >= 2)) throw new Error(`entropy head needs at least 2 outputs, got ${clusters}`);
  const input = tf.input({ shape: [projectionDim], name: 'projection_input' });
  const logits = dense({ name: 'entropy_logits', units: clusters, kernelInitializer: glorotUniform(new Random(seed)) }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'entropy_head' });
}

/** H(p̄) where p̄ is the batch mean of softmax(logits); at most ln K, reached when the batch is spread evenly. */
export function batchMeanEntropy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const meanProb = tf.mean(tf.softmax(logits), 0);
    return tf.neg(tf.sum(tf.mul(meanProb, tf.log(tf.add(meanProb, 1e-8))))) as tf.Scalar;
  });
}
