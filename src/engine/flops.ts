// Floating-point operations of one training step, counted from the model's layers: what a throughput figure is
// divided by to say how much of the hardware a step uses.
import type * as tf from '@tensorflow/tfjs';
import type { Network } from './model';

/** Multiply-adds count as two operations, as in every published FLOP figure. */
function layerForwardFlops(layer: tf.layers.Layer): number {
  const out = layer.outputShape as number[];
  const config = layer.getConfig() as { kernelSize?: number | number[]; filters?: number; units?: number };
  const className = layer.getClassName();
  const perImageOutputs = out.slice(1).reduce((a, b) => a * (b ?? 1), 1);
  if (className === 'Conv2D') {
    const inChannels = (layer.input as tf.SymbolicTensor).shape[3] ?? 1;
    const kernel = Array.isArray(config.kernelSize) ? config.kernelSize[0]! * config.kernelSize[1]! : (config.kernelSize ?? 1) ** 2;
    return 2 * perImageOutputs * kernel * inChannels;
  }
  if (className === 'Dense') {
    const inShape = (layer.input as tf.SymbolicTensor).shape;
    return 2 * perImageOutputs * (inShape[inShape.length - 1] ?? 1);
  }
  // Elementwise layers (batch norm, ReLU, add, pooling): a few operations per output, small beside convolutions.
  if (className === 'BatchNormalization') return 4 * perImageOutputs;
  if (className === 'ReLU' || className === 'Add' || className === 'Activation') return perImageOutputs;
  if (className === 'GlobalAveragePooling2D') {
    const inShape = (layer.input as tf.SymbolicTensor).shape;
    return inShape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  }
  return 0;
}

/** Forward FLOPs of one image through a Layers model. */
export function forwardFlops(model: tf.LayersModel): number {
  return model.layers.reduce((sum, layer) => sum + layerForwardFlops(layer), 0);
}

/**
 * One step: 2N views forward and backward through encoder and heads (a follower, such as a target network, forward
 * only). The backward pass costs about twice the
 * forward (gradients for both inputs and weights), so a step is 3 × forward × 2N. Augmentation, the loss's 2N × 2N
 * similarity matrix and the optimiser are added: small, but counted.
 */
export function stepFlops(model: Network, batchSize: number, projectionDim: number, parameters: number): number {
  const trained = [model.encoder, ...Object.values(model.method.heads), ...(model.entropyHead ? [model.entropyHead] : [])];
  const perView = trained.reduce((sum, m) => sum + forwardFlops(m), 0);
  const followerPerView = Object.values(model.method.followers).reduce((sum, m) => sum + forwardFlops(m), 0);
  const views = 2 * batchSize;
  // The loss's pairwise similarities (SimCLR's 2N × 2N matrix; a bound for the other methods).
  const similarity = 2 * views * views * projectionDim;
  // Adam-like updates: about ten operations per parameter.
  const update = 10 * parameters;
  return 3 * (perView * views + similarity) + followerPerView * views + update;
}
