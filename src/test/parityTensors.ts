// The parts of the PyTorch parity checks that run anywhere tfjs does (vitest in Node, and a page the browser tests
// bundle it into, e2e/webgl/mocoStep.ts): tensors as the fixtures hold them, a train state's weights written and read
// by PyTorch name and layout, and the float32 measure of agreement. No vitest, no Node modules.
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../engine/config';
import { allWeights } from '../engine/model';
import type { TrainState } from '../engine/step';
import { fromPytorchLayout, pytorchName, toPytorchLayout } from '../export/safetensors';

/** A fixture's tensor: its shape, and its float32 values little-endian in base64. */
export interface Encoded {
  shape: number[];
  b64: string;
}

/** A fixture's common part; `reference` is each method's own. */
export interface ParityFixture<Reference> {
  config: TrainConfig;
  views: Encoded;
  initial: Record<string, Encoded>;
  reference: Reference;
}

/** What PyTorch computed for MoCo v2's fixture (scripts/parity/moco_parity.py), on whichever backend it is checked. */
export interface MocoReference {
  q: Encoded;
  loss: number;
  grads: Record<string, Encoded>;
  afterOne: Record<string, Encoded>;
  losses: number[];
  positiveAcc: number[];
  queueAge: number[];
  /** The queue after the steps: keys, written_at, pointer. */
  final: Record<string, Encoded>;
}

/** An Encoded tensor's values (Node's Buffer: the tests that read fixtures run there). */
export function decode(e: Encoded): Float32Array {
  const bytes = Buffer.from(e.b64, 'base64');
  // A copy: Buffer's bytes need not be 4-byte aligned.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** The largest |a − b| over a tensor, and the scale it is judged against, max |b|. */
export function tensorError(actual: ArrayLike<number>, expected: ArrayLike<number>): { worst: number; scale: number } {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  return { worst, scale };
}

/** float32 agreement: |a − b| ≤ 1e-6 + rtol · max|b| over the tensor (the scale of a tensor, not of each element). */
export const withinTolerance = ({ worst, scale }: { worst: number; scale: number }, rtol: number): boolean => worst <= 1e-6 + rtol * scale;

/** Writes every weight of the state (statistics, followers and buffers included) from `valuesOf(PyTorch name)`. */
export function writeWeights(state: TrainState, valuesOf: (name: string) => ArrayLike<number> | undefined): void {
  for (const { name, weight } of allWeights(state.model)) {
    const stored = valuesOf(pytorchName(name));
    if (!stored) throw new Error(`no values for ${pytorchName(name)}`);
    const shape = weight.shape.map(Number);
    weight.write(tf.tensor(fromPytorchLayout(Float32Array.from(stored), name, shape), shape));
  }
}

/** Every weight of the state by PyTorch name, in PyTorch layout. */
export async function weightsInPytorchLayout(state: TrainState): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const { name, weight } of allWeights(state.model)) {
    const converted = toPytorchLayout({ name, shape: weight.shape.map(Number), values: Float32Array.from(await weight.read().data()) });
    out.set(converted.name, converted.values);
  }
  return out;
}
