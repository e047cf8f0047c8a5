// A training state as plain arrays and back: what a checkpoint stores. Weights are named by layer path (stable across
// sessions), every weight (batch-norm moving statistics included) is kept, and the optimiser's slots, step counter and
// the augmentation generator come with them, so a restored run continues exactly where it stopped.
import * as tf from '@tensorflow/tfjs';
import { allWeights, type Network } from './model';
import type { StateTensor } from './optim';
import type { TrainState } from './step';

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Named float32 tensors packed into one buffer, in spec order. */
export interface PackedTensors {
  specs: TensorSpec[];
  data: Float32Array;
}

export interface SavedTrainState {
  step: number;
  weights: PackedTensors;
  optimizer: PackedTensors;
  /** The augmentation generator's state (src/engine/random.ts). */
  random: number;
}

const sizeOf = (shape: number[]) => shape.reduce((a, d) => a * d, 1);

export function pack(tensors: { name: string; shape: number[]; values: ArrayLike<number> }[]): PackedTensors {
  const data = new Float32Array(tensors.reduce((sum, t) => sum + sizeOf(t.shape), 0));
  let offset = 0;
  for (const t of tensors) {
    if (t.values.length !== sizeOf(t.shape)) throw new Error(`'${t.name}' has ${t.values.length} values for shape [${t.shape}]`);
    data.set(t.values, offset);
    offset += t.values.length;
  }
  return { specs: tensors.map(({ name, shape }) => ({ name, shape: shape.slice() })), data };
}

export function unpack(packed: PackedTensors): StateTensor[] {
  const total = packed.specs.reduce((sum, s) => sum + sizeOf(s.shape), 0);
  if (total !== packed.data.length) throw new Error(`the tensors need ${total} values but ${packed.data.length} are stored`);
  let offset = 0;
  return packed.specs.map(({ name, shape }) => {
    const size = sizeOf(shape);
    const values = packed.data.subarray(offset, offset + size);
    offset += size;
    return { name, shape, values };
  });
}

/** Every weight of the model, read asynchronously (clones taken at once, so a later update cannot mix in). */
export async function readWeights(model: Network): Promise<PackedTensors> {
  const weights = allWeights(model);
  const clones = weights.map(({ weight }) => tf.clone(weight.read()));
  try {
    const values = await Promise.all(clones.map((t) => t.data() as Promise<Float32Array>));
    return pack(weights.map(({ name, weight }, i) => ({ name, shape: weight.shape as number[], values: values[i]! })));
  } finally {
    tf.dispose(clones);
  }
}

export async function saveTrainState(state: TrainState): Promise<SavedTrainState> {
  const weights = await readWeights(state.model);
  const optimizer = pack(await state.optimizer.getState());
  return { step: state.step, weights, optimizer, random: state.rng.getState() };
}

/**
 * Writes stored weights into the model. Every name and shape is checked before anything is written, so a mismatch
 * changes nothing. With `partial`, weights the model has but the store lacks keep their values (a downloaded encoder
 * without its head); names the model does not have are always an error.
 */
export function writeWeights(model: Network, stored: StateTensor[], options: { partial?: boolean } = {}): void {
  const byName = new Map(allWeights(model).map((w) => [w.name, w.weight]));
  for (const s of stored) {
    const weight = byName.get(s.name);
    if (!weight) throw new Error(`the model has no weight '${s.name}'`);
    if (weight.shape.length !== s.shape.length || weight.shape.some((d, i) => d !== s.shape[i])) {
      throw new Error(`weight '${s.name}' is [${s.shape}] in the file but [${weight.shape}] in the model`);
    }
  }
  if (!options.partial) {
    const given = new Set(stored.map((s) => s.name));
    const missing = [...byName.keys()].filter((name) => !given.has(name));
    if (missing.length) throw new Error(`weights missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  tf.tidy(() => {
    // A copy of the values: the CPU backend would otherwise keep the caller's array as its storage.
    for (const s of stored) byName.get(s.name)!.write(tf.tensor(Float32Array.from(s.values), s.shape));
  });
}

/** Puts a saved state back into a freshly created state of the same config. */
export function restoreTrainState(state: TrainState, saved: SavedTrainState): void {
  const optimizerState = unpack(saved.optimizer);
  writeWeights(state.model, unpack(saved.weights));
  state.optimizer.setState(optimizerState);
  state.rng.setState(saved.random);
  state.step = saved.step;
}
