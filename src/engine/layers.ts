// Building blocks shared by the encoders and the projection head.
import * as tf from '@tensorflow/tfjs';
import type { InitScheme } from './config';
import type { Random } from './random';
import { FusedBatchNormalization } from './webgpu/batchNormLayer';
import { EngineConv2D } from './webgpu/convLayer';
import { EngineDense } from './webgpu/denseLayer';
import { FusedGlobalAveragePooling2D } from './webgpu/globalPoolLayer';
import { FusedReLU } from './webgpu/reluLayer';
// A grayscale encoder's first convolution runs as flat programs on WebGPU (it wraps tfjs's convolution kernels).
import './webgpu/singleChannelConv';
// Every other convolution runs as implicit matrix products on WebGPU (it wraps them too).
import './webgpu/conv2dGemm';

type Initializer = ReturnType<typeof tf.initializers.heNormal>;

// google-research/simclr resnet.py: BATCH_NORM_DECAY = 0.9, BATCH_NORM_EPSILON = 1e-5.
const BN_MOMENTUM = 0.9;
const BN_EPSILON = 1e-5;

/** Seeded initialisers so that the same config seed gives the same starting weights. */
export function heNormal(rng: Random): Initializer {
  return tf.initializers.heNormal({ seed: rng.int(2 ** 31) });
}

export function glorotUniform(rng: Random): Initializer {
  return tf.initializers.glorotUniform({ seed: rng.int(2 ** 31) });
}

/**
 * PyTorch's default for conv and linear weights, kaiming_uniform(a = √5): uniform in ±1/√fan-in, i.e. variance
 * scaling 1/3 over fan-in (tfjs takes fan-in as kh·kw·in for a conv kernel and in for a dense one, as PyTorch does).
 */
export function torchKernel(rng: Random): Initializer {
  return tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: rng.int(2 ** 31) });
}

/** PyTorch's default bias of a linear layer with `fanIn` inputs: uniform in ±1/√fan-in. */
export function torchBias(fanIn: number, rng: Random): Initializer {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: rng.int(2 ** 31) });
}

/** The kernel initialiser of a conv layer under `scheme`. */
export function convKernel(scheme: InitScheme, rng: Random): Initializer {
  return scheme === 'torch' ? torchKernel(rng) : heNormal(rng);
}

/** The kernel initialiser of a dense layer under `scheme`. */
export function denseKernel(scheme: InitScheme, rng: Random): Initializer {
  return scheme === 'torch' ? torchKernel(rng) : glorotUniform(rng);
}

/**
 * tfjs-layers' batch norm; on WebGPU it trains through fused kernels (webgpu/batchNormLayer.ts). `rectifies`: a ReLU
 * layer follows and is the only reader of its output, so training computes the ReLU here (not saved in the config).
 */
export function batchNorm(name: string, options: { zeroGamma?: boolean; rectifies?: boolean } = {}): tf.layers.Layer {
  const layer = new FusedBatchNormalization({
    name,
    axis: -1,
    momentum: BN_MOMENTUM,
    epsilon: BN_EPSILON,
    gammaInitializer: options.zeroGamma ? 'zeros' : 'ones',
  });
  layer.rectifies = options.rectifies ?? false;
  return layer;
}

/** tfjs-layers' dense layer; on WebGPU one kernel forward and one per gradient (webgpu/denseLayer.ts). */
export function dense(args: Parameters<typeof tf.layers.dense>[0]): tf.layers.Layer {
  return new EngineDense(args);
}

/** tfjs-layers' global average pooling; on WebGPU a flat kernel each way (webgpu/globalPoolLayer.ts). */
export function globalAveragePool(name: string): tf.layers.Layer {
  return new FusedGlobalAveragePooling2D({ name });
}

/** tfjs-layers' ReLU; on WebGPU one program each way (webgpu/reluLayer.ts). */
export function relu(name: string): tf.layers.Layer {
  return new FusedReLU({ name });
}

/** conv (no bias: batch norm follows) → batch norm → optional ReLU. */
export function convBnRelu(
  x: tf.SymbolicTensor,
  name: string,
  filters: number,
  options: { kernelSize?: number; strides?: number; relu?: boolean; zeroGamma?: boolean; init?: InitScheme },
  rng: Random,
): tf.SymbolicTensor {
  const conv = new EngineConv2D({
    name: `${name}_conv`,
    filters,
    kernelSize: options.kernelSize ?? 3,
    strides: options.strides ?? 1,
    padding: 'same',
    useBias: false,
    kernelInitializer: convKernel(options.init ?? 'torch', rng),
  });
  const withRelu = options.relu ?? true;
  let y = batchNorm(`${name}_bn`, { zeroGamma: options.zeroGamma, rectifies: withRelu }).apply(conv.apply(x)) as tf.SymbolicTensor;
  if (withRelu) y = relu(`${name}_relu`).apply(y) as tf.SymbolicTensor;
  return y;
}

export { scaledWidth } from './config';
