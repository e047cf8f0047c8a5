// Bundled for a page by e2e/moco-webgl.spec.ts (esbuild), not run by Playwright itself: a parity fixture's step on the
// page's WebGL backend, prepared as the trainer worker prepares a run (compilePipelines: the compile-only pass, then
// every program drawn once at one pixel), then the loss and gradients of the fixed views, and `steps` training steps
// on them. Values travel as plain arrays by PyTorch name, in PyTorch layout.
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../../src/engine/config';
import { compilePipelines, createTrainState, disposeTrainState, probeGradients, trainStep } from '../../src/engine/step';
import { toPytorchLayout } from '../../src/export/safetensors';
import { weightsInPytorchLayout, writeWeights } from '../../src/test/parityTensors';

export interface StepCaseInput {
  config: TrainConfig;
  /** Both views, [2N, S, S, C], view 1's first. */
  views: { shape: number[]; values: number[] };
  initial: Record<string, number[]>;
  steps: number;
}

export interface StepCaseResult {
  backend: string;
  loss: number;
  grads: Record<string, number[]>;
  afterOne: Record<string, number[]>;
  final: Record<string, number[]>;
  losses: number[];
  diagnostics: Record<string, number>[];
}

const plain = (weights: Map<string, Float32Array>) => Object.fromEntries([...weights].map(([name, v]) => [name, Array.from(v)]));

export async function runStepCase({ config, views, initial, steps }: StepCaseInput): Promise<StepCaseResult> {
  if (!(await tf.setBackend('webgl'))) throw new Error('WebGL is not available on this page');
  const state = createTrainState(config);
  writeWeights(state, (name) => initial[name]);
  await compilePipelines(state);
  const [n2, s, , c] = views.shape as [number, number, number, number];
  const both = tf.tensor4d(views.values, [n2, s, s, c]);
  const [view1, view2] = tf.split(both, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
  const { loss, grads } = await probeGradients(state, view1, view2);
  const pytorchGrads = state.params.map((p) => toPytorchLayout({ name: p.name, shape: p.variable.shape.map(Number), values: grads.get(p.name)! }));
  const losses: number[] = [];
  const diagnostics: Record<string, number>[] = [];
  let afterOne: Record<string, number[]> = {};
  for (let step = 0; step < steps; step++) {
    const m = await trainStep(state, view1, { views: [view1, view2] });
    losses.push(m.methodLoss);
    diagnostics.push(m.diagnostics);
    if (step === 0) afterOne = plain(await weightsInPytorchLayout(state));
  }
  const final = plain(await weightsInPytorchLayout(state));
  tf.dispose([both, view1, view2]);
  disposeTrainState(state);
  return { backend: tf.getBackend(), loss, grads: Object.fromEntries(pytorchGrads.map((g) => [g.name, Array.from(g.values)])), afterOne, final, losses, diagnostics };
}
