// Step-level parity, tabclr's half: one small deterministic case (a convnet4 and its head from a seed, two augmented
// views of synthetic images), and what tabclr's engine computes from it: the forward pass (h and z of the 2N views in
// training mode), the loss, every parameter's gradient, the weights and batch-norm statistics after one AdamW update,
// and 50 steps on the same views. scripts/parity/step_parity.py computes the same in PyTorch from the same weights and
// views, compares, and writes the fixture src/engine/parity.test.ts pins the engine to.
//
//   npx tsx scripts/parity/step-case.ts --out DIR [--model '{"representationRelu":false}']
//   /usr/bin/python3 scripts/parity/step_parity.py --case DIR [--fixture src/engine/fixtures/step-parity.json]
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { augmentPair } from '../../src/engine/augment';
import { defaultTrainConfig, type TrainConfig } from '../../src/engine/config';
import { allWeights } from '../../src/engine/model';
import { learningRateAt } from '../../src/engine/optim';
import { Random } from '../../src/engine/random';
import { createTrainState, disposeTrainState, probeGradients, toUnitRange, trainStep, type TrainState } from '../../src/engine/step';
import { syntheticImages } from '../../src/engine/synthetic';
import { encodeSafetensors, toPytorchLayout, type NamedArray } from '../../src/export/safetensors';

export const PARITY_STEPS = 50;

/**
 * The case: 12 px so that the stride-2 'same' convolutions meet both an even side (12 → 6: one pixel of padding,
 * after) and an odd one (3 → 2: one before and one after); weight decay 0.1, far above the recipe's, so that
 * decoupled decay and its exclusions show in one update; warm-up then cosine over the 50 steps.
 */
export function parityConfig(modelOverrides: Partial<TrainConfig['model']> = {}): TrainConfig {
  const config = defaultTrainConfig(12, 1);
  Object.assign(config.model, { width: 0.125, projectionDim: 48 }, modelOverrides);
  config.batchSize = 4;
  config.method = { name: 'simclr', temperature: 0.2 };
  config.seed = 7;
  Object.assign(config.optim, { optimizer: 'adam', learningRate: 3e-3, weightDecay: 0.1, warmupSteps: 5, totalSteps: PARITY_STEPS });
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
  if (!args.includes('--out') || !out) throw new Error('usage: step-case.ts --out DIR [--model JSON]');
  const overrides = args.includes('--model') ? (JSON.parse(args[args.indexOf('--model') + 1]!) as Partial<TrainConfig['model']>) : {};
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const config = parityConfig(overrides);
  const { imageSize: s, channels: c } = config.model;
  const n = config.batchSize;
  const images = tf.tensor4d(syntheticImages(n, s, c, 11), [n, s, s, c], 'int32');
  const [view1, view2] = tf.tidy(() => augmentPair(toUnitRange(images), config.augment, new Random(3)));
  const state = createTrainState(config);
  const initial = await weightsOf(state);

  // The forward pass in training mode moves the batch-norm statistics: keep them, and put them back before stepping.
  const statistics = allWeights(state.model).filter(({ weight }) => !weight.trainable);
  const saved = statistics.map(({ weight }) => weight.read().clone());
  const { loss, grads } = await probeGradients(state, view1, view2);
  const both = tf.concat([view1, view2], 0);
  const h = state.model.encoder.apply(both, { training: true }) as tf.Tensor2D;
  const z = state.model.method.heads.projection_head!.apply(h, { training: true }) as tf.Tensor2D;
  const forward = { h: b64((await h.data()) as Float32Array), z: b64((await z.data()) as Float32Array), hShape: h.shape, zShape: z.shape };
  tf.dispose([both, h, z]);
  statistics.forEach(({ weight }, i) => weight.write(saved[i]!));
  tf.dispose(saved);
  const gradArrays = state.params.map((p) => toPytorchLayout({ name: p.name, shape: p.variable.shape.map(Number), values: grads.get(p.name)! }));
  const losses: number[] = [];
  let afterOne: NamedArray[] = [];
  for (let step = 0; step < PARITY_STEPS; step++) {
    const metrics = await trainStep(state, view1, { views: [view1, view2] });
    losses.push(metrics.methodLoss);
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
      learningRates: Array.from({ length: PARITY_STEPS }, (_, i) => learningRateAt(i, config.optim)),
      tabclr: { forward, loss, grads: encoded(gradArrays), afterOne: encoded(afterOne), losses, final: encoded(final) },
    }),
  );
  disposeTrainState(state);
  tf.dispose([images, view1, view2]);
  console.log(`wrote ${out}/case.json and initial.safetensors: loss ${loss.toFixed(6)}, after ${PARITY_STEPS} steps ${losses.at(-1)!.toFixed(6)}`);
}

await main();
