// What every step-level parity case shares, tabclr's half (scripts/parity/step-case.ts for SimCLR, moco-case.ts for
// MoCo v2): the engine on the CPU backend, synthetic images and two augmented views of them fixed by seeds, the train
// state with its initial weights in PyTorch names and layouts, the gradients of the first step, a number of steps on
// the same views, and the case written as initial.safetensors and case.json for the PyTorch half
// (scripts/parity/parity_case.py and the method's *_parity.py). A method's case file adds only its config and what it
// measures besides.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { augmentPair } from '../../../src/engine/augment';
import type { TrainConfig } from '../../../src/engine/config';
import { allWeights } from '../../../src/engine/model';
import { learningRateAt } from '../../../src/engine/optim';
import { Random } from '../../../src/engine/random';
import { createTrainState, disposeTrainState, probeGradients, toUnitRange, trainStep, type StepMetrics, type TrainState } from '../../../src/engine/step';
import { syntheticImages } from '../../../src/engine/synthetic';
import { encodeSafetensors, toPytorchLayout, type NamedArray } from '../../../src/export/safetensors';

/** A tensor for case.json: its shape and its float32 values, little-endian, base64. */
export interface EncodedTensor {
  shape: number[];
  b64: string;
}

export function b64(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

/** Named arrays (PyTorch layouts) as case.json holds them: by name. */
export const encoded = (arrays: NamedArray[]): Record<string, EncodedTensor> =>
  Object.fromEntries(arrays.map((a) => [a.name, { shape: a.shape, b64: b64(a.values) }]));

/** Every weight of the state (trained parts, followers, a method's buffers) under its PyTorch name and layout. */
export async function weightsOf(state: TrainState): Promise<NamedArray[]> {
  return Promise.all(
    allWeights(state.model).map(async ({ name, weight }) =>
      toPytorchLayout({ name, shape: weight.shape.map(Number), values: Float32Array.from(await weight.read().data()) }),
    ),
  );
}

/** `--out DIR` and the other arguments of a case script; stops with `usage` when --out is missing. */
export function caseArguments(usage: string): { out: string; args: string[] } {
  const args = process.argv.slice(2);
  const out = args[args.indexOf('--out') + 1];
  if (!args.includes('--out') || !out) throw new Error(`usage: ${usage}`);
  return { out, args };
}

/** A case being computed: its config, the fixed views, and the train state as it starts. */
export interface ParityCase {
  config: TrainConfig;
  images: tf.Tensor4D;
  view1: tf.Tensor4D;
  view2: tf.Tensor4D;
  state: TrainState;
  /** The state's weights before anything ran, PyTorch names and layouts. */
  initial: NamedArray[];
}

/** The case on the CPU backend: batchSize synthetic images (seed 11), their two views (augmentation seed 3), the state. */
export async function openCase(config: TrainConfig): Promise<ParityCase> {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const { imageSize: s, channels: c } = config.model;
  const n = config.batchSize;
  const images = tf.tensor4d(syntheticImages(n, s, c, 11), [n, s, s, c], 'int32');
  const [view1, view2] = tf.tidy(() => augmentPair(toUnitRange(images), config.augment, new Random(3)));
  const state = createTrainState(config);
  return { config, images, view1, view2, state, initial: await weightsOf(state) };
}

/** The loss and every parameter's gradient of the first step (nothing updated), gradients by PyTorch name. */
export async function firstGradients({ state, view1, view2 }: ParityCase): Promise<{ loss: number; grads: Record<string, EncodedTensor> }> {
  const { loss, grads } = await probeGradients(state, view1, view2);
  const arrays = state.params.map((p) => toPytorchLayout({ name: p.name, shape: p.variable.shape.map(Number), values: grads.get(p.name)! }));
  return { loss, grads: encoded(arrays) };
}

/** `steps` training steps on the case's views: each step's metrics, the weights after the first and after the last. */
export async function trainCase({ state, view1, view2 }: ParityCase, steps: number): Promise<{ metrics: StepMetrics[]; afterOne: Record<string, EncodedTensor>; final: Record<string, EncodedTensor> }> {
  const metrics: StepMetrics[] = [];
  let afterOne: NamedArray[] = [];
  for (let step = 0; step < steps; step++) {
    metrics.push(await trainStep(state, view1, { views: [view1, view2] }));
    if (step === 0) afterOne = await weightsOf(state);
  }
  return { metrics, afterOne: encoded(afterOne), final: encoded(await weightsOf(state)) };
}

/**
 * Writes DIR/initial.safetensors and DIR/case.json: the config, both views ([2N, S, S, C], view 1's first), the
 * learning rate of each of `steps` steps, what the method adds (`extra`), and tabclr's results; then frees the case.
 */
export async function writeCase(out: string, c: ParityCase, steps: number, tabclr: { loss: number; losses: number[] } & Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const { config, view1, view2 } = c;
  const { imageSize: s, channels: ch } = config.model;
  const views = { shape: [2 * config.batchSize, s, s, ch], b64: b64(Float32Array.from([...(await view1.data()), ...(await view2.data())])) };
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'initial.safetensors'), encodeSafetensors(c.initial));
  writeFileSync(
    join(out, 'case.json'),
    JSON.stringify({ config, views, learningRates: Array.from({ length: steps }, (_, i) => learningRateAt(i, config.optim)), ...extra, tabclr }),
  );
  disposeTrainState(c.state);
  tf.dispose([c.images, view1, view2]);
  console.log(`wrote ${out}/case.json and initial.safetensors: loss ${tabclr.loss.toFixed(6)}, after ${steps} steps ${tabclr.losses.at(-1)!.toFixed(6)}`);
}
