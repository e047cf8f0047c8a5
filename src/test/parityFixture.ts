// What the tests that pin a step to PyTorch share (src/engine/parity.test.ts for SimCLR, src/test/mocoParity.ts for MoCo
// v2): reading a fixture that scripts/parity/parity_case.py wrote (the config, the views, the initial weights, and
// PyTorch's results, tensors as little-endian float32 in base64 with PyTorch names and layouts), a train state with its
// weights, the views as tensors, and the float32 comparison as vitest expectations (parityTensors.ts has what runs
// outside vitest too). No PyTorch at test time.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { createTrainState, type TrainState } from '../engine/step';
import { pytorchName, toPytorchLayout } from '../export/safetensors';
import { decode, tensorError, withinTolerance, writeWeights, type Encoded, type ParityFixture } from './parityTensors';

export { decode, weightsInPytorchLayout, type Encoded, type ParityFixture } from './parityTensors';

export function readParityFixture<Reference>(url: URL): ParityFixture<Reference> {
  return JSON.parse(readFileSync(url, 'utf8')) as ParityFixture<Reference>;
}

/** float32 agreement: |a − b| ≤ 1e-6 + rtol · max|b| over the tensor (the scale of a tensor, not of each element). */
export function expectClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): void {
  expect(actual.length, name).toBe(expected.length);
  const error = tensorError(actual, expected);
  expect(withinTolerance(error, rtol), `${name}: max |tabclr − PyTorch| ${error.worst} against max |PyTorch| ${error.scale}`).toBe(true);
}

/** Writes the fixture's initial weights (statistics, followers and buffers included) into the state. */
export function writeInitial(state: TrainState, fixture: ParityFixture<unknown>): void {
  writeWeights(state, (name) => (fixture.initial[name] ? decode(fixture.initial[name]) : undefined));
}

/** A train state from the fixture's config with the fixture's initial weights. */
export function stateFromFixture(fixture: ParityFixture<unknown>): TrainState {
  const state = createTrainState(fixture.config);
  writeInitial(state, fixture);
  return state;
}

/** The fixture's two views, [N, S, S, C] each. */
export function fixtureViews(fixture: ParityFixture<unknown>): [tf.Tensor4D, tf.Tensor4D] {
  const [n2, s, , c] = fixture.views.shape as [number, number, number, number];
  const all = tf.tensor4d(decode(fixture.views), [n2, s, s, c]);
  const views = tf.split(all, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
  all.dispose();
  return views;
}

/** Every trained parameter's gradient (engine names) against the fixture's, by PyTorch name: the same set, each close. */
export function expectGradientsClose(state: TrainState, grads: Map<string, Float32Array>, expected: Record<string, Encoded>, rtol = 1e-4): void {
  expect(state.params.map((p) => pytorchName(p.name)).sort()).toEqual(Object.keys(expected).sort());
  for (const p of state.params) {
    const g = toPytorchLayout({ name: p.name, shape: p.variable.shape.map(Number), values: grads.get(p.name)! });
    expectClose(`gradient of ${g.name}`, g.values, decode(expected[g.name]!), rtol);
  }
}
