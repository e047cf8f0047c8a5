// The SimCLR network: encoder f, projection head g, and the optional entropy head, built from one config.
import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config';
import { createEncoder, representationDim } from './encoders';
import { createEntropyHead, createProjectionHead } from './head';
import type { TrainableParam } from './optim';

export interface SimclrModel {
  encoder: tf.LayersModel;
  head: tf.LayersModel;
  /** Present only when the entropy regulariser is on (entropyWeight > 0). */
  entropyHead: tf.LayersModel | null;
}

export function createSimclrModel(config: ModelConfig, seed: number): SimclrModel {
  const encoder = createEncoder(config, seed);
  const head = createProjectionHead(representationDim(encoder), config, seed + 1);
  const entropyHead = config.entropyWeight > 0 ? createEntropyHead(config.projectionDim, config.entropyClusters, seed + 2) : null;
  return { encoder, head, entropyHead };
}

function parts(model: SimclrModel): tf.LayersModel[] {
  return model.entropyHead ? [model.encoder, model.head, model.entropyHead] : [model.encoder, model.head];
}

/**
 * The variables the optimiser updates, named by their layer path ('block1_conv/kernel'), which is stable across
 * sessions (tfjs suffixes the variables' own names to keep them unique in the process).
 */
export function trainableParams(model: SimclrModel): TrainableParam[] {
  return parts(model).flatMap((m) => m.trainableWeights.map((w) => ({ name: w.originalName, variable: w.read() as tf.Variable })));
}

/** Every weight, trainable or not (batch-norm moving statistics included), by its stable name. */
export function allWeights(model: SimclrModel): { name: string; weight: tf.LayerVariable }[] {
  return parts(model).flatMap((m) => m.weights.map((w) => ({ name: w.originalName, weight: w })));
}

export function countParams(model: SimclrModel): number {
  return parts(model).reduce((sum, m) => sum + m.countParams(), 0);
}

export function disposeSimclrModel(model: SimclrModel): void {
  for (const m of parts(model)) m.dispose();
}
