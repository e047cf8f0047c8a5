// The network a run trains: the encoder f, the method's heads (and followers, such as a target network), and the
// optional entropy head, built from one config.
import type * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from './config';
import { createEncoder, representationDim } from './encoders';
import { createEntropyHead } from './head';
import { engineKit } from './kit';
import { methodOf, methodSettings } from './methods';
import type { MethodBuffer, MethodNetwork } from './methods/method';
import type { TrainableParam } from './optim';

export interface Network {
  encoder: tf.LayersModel;
  /** The method's parts and objective. */
  method: MethodNetwork;
  /** Present only when the entropy regulariser is on (entropyWeight > 0). */
  entropyHead: tf.LayersModel | null;
}

export function createNetwork(config: Pick<TrainConfig, 'method' | 'model' | 'seed'>): Network {
  const { model, seed } = config;
  const encoder = createEncoder(model, seed);
  const method = methodOf(config.method).build(engineKit, methodSettings(config.method), { model, encoder, representationDim: representationDim(encoder), seed });
  for (const follower of Object.values(method.followers)) follower.trainable = false;
  const entropyHead = model.entropyWeight > 0 ? createEntropyHead(model.projectionDim, model.entropyClusters, seed + 2) : null;
  return { encoder, method, entropyHead };
}

/** The trained parts in a fixed order: encoder, the method's heads, the entropy head. */
function trainedParts(network: Network): tf.LayersModel[] {
  return [network.encoder, ...Object.values(network.method.heads), ...(network.entropyHead ? [network.entropyHead] : [])];
}

/**
 * The variables the optimiser updates, named by their layer path ('block1_conv/kernel'), which is stable across
 * sessions (tfjs suffixes the variables' own names to keep them unique in the process).
 */
export function trainableParams(network: Network): TrainableParam[] {
  return trainedParts(network).flatMap((m) => m.trainableWeights.map((w) => ({ name: w.originalName, variable: w.read() as tf.Variable })));
}

/**
 * Every weight, trainable or not (batch-norm moving statistics included), by its stable name. A follower's weights
 * are prefixed with its name ('target_encoder/block1_conv/kernel'): it repeats the layer names of what it follows.
 */
export function allWeights(network: Network): { name: string; weight: tf.LayerVariable | MethodBuffer }[] {
  const trained = trainedParts(network).flatMap((m) => m.weights.map((w) => ({ name: w.originalName, weight: w })));
  const followers = Object.entries(network.method.followers).flatMap(([part, m]) => m.weights.map((w) => ({ name: `${part}/${w.originalName}`, weight: w })));
  // A method's buffers (MoCo's queue) travel with the weights into checkpoints; downloads take named parts only.
  const buffers = Object.entries(network.method.buffers ?? {}).map(([name, weight]) => ({ name, weight }));
  return [...trained, ...followers, ...buffers];
}

/** Trainable and non-trainable parameters of the trained parts (a follower is a copy, not counted). */
export function countParams(network: Network): number {
  return trainedParts(network).reduce((sum, m) => sum + m.countParams(), 0);
}

export function disposeNetwork(network: Network): void {
  for (const m of [...trainedParts(network), ...Object.values(network.method.followers)]) m.dispose();
  network.method.dispose?.();
}
