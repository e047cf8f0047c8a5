// Step-level parity for MoCo v2, tabclr's half: a small deterministic case (a convnet4, MoCo's query head, the key
// network as their copy, a queue of 12 random unit keys, two augmented views of synthetic images) and what tabclr's
// engine computes from it: the queries of the first step (training mode), the loss over the initial queue, every
// gradient, the query network after one AdamW update, the key network after its momentum update, the queue after the
// step's enqueue and dequeue (the step's keys are its first 2N rows), and STEPS steps on the same views, over which the
// queue of 12 wraps around (2N = 8 keys a step). scripts/parity/moco_parity.py computes the same in PyTorch.
//
//   npx tsx scripts/parity/moco-case.ts --out DIR
//   /usr/bin/python3 scripts/parity/moco_parity.py --case DIR [--fixture src/engine/fixtures/moco-step-parity.json]
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { augmentPair } from '../../src/engine/augment';
import { defaultTrainConfig, type TrainConfig } from '../../src/engine/config';
import { keyShuffles } from '../../src/engine/methods/moco';
import { allWeights } from '../../src/engine/model';
import { learningRateAt } from '../../src/engine/optim';
import { Random } from '../../src/engine/random';
import { createTrainState, disposeTrainState, probeGradients, toUnitRange, trainStep, type TrainState } from '../../src/engine/step';
import { syntheticImages } from '../../src/engine/synthetic';
import { encodeSafetensors, toPytorchLayout, type NamedArray } from '../../src/export/safetensors';

export const MOCO_PARITY_STEPS = 6;

/**
 * The case: 12 px (both even and odd 'same' paddings), batch 4 in 2 shuffled batch-norm groups, a queue of 12 (not a
 * multiple of the 8 keys a step, so that enqueueing wraps), key momentum 0.9 (so that the key network visibly moves),
 * weight decay 0.1, warm-up then cosine over the steps.
 */
export function mocoParityConfig(): TrainConfig {
  const config = defaultTrainConfig(12, 1);
  Object.assign(config.model, { width: 0.125, projectionDim: 16 });
  config.batchSize = 4;
  config.method = { name: 'moco', temperature: 0.2, queueSize: 12, keyMomentum: 0.9, bnGroups: 2 };
  config.seed = 7;
  Object.assign(config.optim, { optimizer: 'adam', learningRate: 3e-3, weightDecay: 0.1, warmupSteps: 2, totalSteps: MOCO_PARITY_STEPS });
  return config;
}

function b64(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

async function weightsOf(state: TrainState): Promise<NamedArray[]> {
  return Promise.all(
    allWeights(state.model).map(async ({ name, weight }) =>
      toPytorchLayout({ name, shape: weight.shape.map(Number), values: Float32Array.from(await weight.read().data()) }),
    ),
  );
}

const encoded = (arrays: NamedArray[]) => Object.fromEntries(arrays.map((a) => [a.name, { shape: a.shape, b64: b64(a.values) }]));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const out = args[args.indexOf('--out') + 1];
  if (!args.includes('--out') || !out) throw new Error('usage: moco-case.ts --out DIR');
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const config = mocoParityConfig();
  const { imageSize: s, channels: c } = config.model;
  const n = config.batchSize;
  const images = tf.tensor4d(syntheticImages(n, s, c, 11), [n, s, s, c], 'int32');
  const [view1, view2] = tf.tidy(() => augmentPair(toUnitRange(images), config.augment, new Random(3)));
  const state = createTrainState(config);
  const initial = await weightsOf(state);

  // The queries of step 1 in training mode, with every non-trainable weight (statistics, the queue) put back after.
  const frozen = allWeights(state.model).filter(({ weight }) => !weight.trainable);
  const saved = frozen.map(({ weight }) => weight.read().clone());
  const both = tf.concat([view1, view2], 0);
  const out1 = state.model.method.objective({ encoder: state.model.encoder, views: both, step: 1 });
  const queries = { q: b64((await out1.projections.data()) as Float32Array), shape: out1.projections.shape };
  tf.dispose([both, out1.loss, out1.projections, ...Object.values(out1.diagnostics)]);
  frozen.forEach(({ weight }, i) => weight.write(saved[i]!));
  tf.dispose(saved);

  const { loss, grads } = await probeGradients(state, view1, view2);
  const gradArrays = state.params.map((p) => toPytorchLayout({ name: p.name, shape: p.variable.shape.map(Number), values: grads.get(p.name)! }));
  const losses: number[] = [];
  const positiveAcc: number[] = [];
  const queueAge: number[] = [];
  let afterOne: NamedArray[] = [];
  for (let step = 0; step < MOCO_PARITY_STEPS; step++) {
    const metrics = await trainStep(state, view1, { views: [view1, view2] });
    losses.push(metrics.methodLoss);
    positiveAcc.push(metrics.diagnostics.positiveAcc!);
    queueAge.push(metrics.diagnostics.queueAge!);
    if (step === 0) afterOne = await weightsOf(state);
  }
  const final = await weightsOf(state);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'initial.safetensors'), encodeSafetensors(initial));
  writeFileSync(
    join(out, 'case.json'),
    JSON.stringify({
      config,
      views: { shape: [2 * n, s, s, c], b64: b64(Float32Array.from([...(await view1.data()), ...(await view2.data())])) },
      learningRates: Array.from({ length: MOCO_PARITY_STEPS }, (_, i) => learningRateAt(i, config.optim)),
      // The key shuffles of each step (a function of the seed and the step: src/engine/methods/moco.ts keyShuffles).
      shuffles: Array.from({ length: MOCO_PARITY_STEPS }, (_, i) => keyShuffles(config.seed, i + 1, n)),
      tabclr: { queries, loss, grads: encoded(gradArrays), afterOne: encoded(afterOne), losses, positiveAcc, queueAge, final: encoded(final) },
    }),
  );
  disposeTrainState(state);
  tf.dispose([images, view1, view2]);
  console.log(`wrote ${out}/case.json and initial.safetensors: loss ${loss.toFixed(6)}, after ${MOCO_PARITY_STEPS} steps ${losses.at(-1)!.toFixed(6)}`);
}

await main();
