// What tabclr's engine trains on in one run of the parity settings, written out so that the PyTorch port can replay it
// (scripts/parity/ablate.py --replay): the initial weights (safetensors, PyTorch names and layouts), every step's
// batch of image indices from the worker's EpochSampler, and every step's two augmented views as the engine makes them
// (augmentViews from the run's own Random, tfjs CPU backend). With these fixed, a replay differs from the engine only
// in float arithmetic, and swapping one of them (torchvision's views, PyTorch's initialisation) measures what that one
// contributes to a gap between the two trainers.
//
//   npx tsx scripts/parity/dump-run.ts --pixels PREFIX --seed S [--steps 150] --out PREFIX
//
// --pixels is what scripts/parity/folder_pixels.py writes (PREFIX.json, PREFIX.train.u8: the reference's own PIL
// pixels). Writes OUT.json (config, shapes), OUT.initial.safetensors, OUT.batches.i32 [steps, batch] and
// OUT.views.f32 [steps, 2 × batch, S, S, C] (NHWC, view 1's images first, values in [0, 1]).
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { augmentViews } from '../../src/engine/augment';
import { EpochSampler, gatherBatch } from '../../src/engine/batches';
import { allWeights } from '../../src/engine/model';
import { Random } from '../../src/engine/random';
import { createTrainState, disposeTrainState } from '../../src/engine/step';
import { encodeSafetensors, toPytorchLayout } from '../../src/export/safetensors';
import { pathText, wholeNumber } from '../lib/args';
import { parseArgs } from '../lib/bench';
import { parityTrainConfig, readPixelSplit } from '../lib/parity/engine';

const options = parseArgs(process.argv.slice(2), {
  name: 'dump-run',
  usage: 'usage: npx tsx scripts/parity/dump-run.ts --pixels PREFIX --seed S [--steps 150] --out PREFIX',
  defaults: { pixels: undefined as string | undefined, seed: 0, steps: 150, out: undefined as string | undefined },
  values: { pixels: pathText, seed: wholeNumber(0, 2 ** 31 - 1), steps: wholeNumber(1, 100_000), out: pathText },
  required: ['pixels', 'out'],
});

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const data = readPixelSplit(options.pixels!);
  const { size, channels } = data;
  const config = parityTrainConfig(options.steps, options.seed, channels);
  const { batchSize } = config;
  // As the worker and engineRun do: the state (weights from config.seed, its augmentation Random) and a sampler on
  // Random(seed). Only the state's Random is used here, exactly as trainStep would use it.
  const state = createTrainState(config);
  const sampler = new EpochSampler(data.train.count, batchSize, new Random(config.seed));
  const initial = await Promise.all(
    allWeights(state.model).map(async ({ name, weight }) =>
      toPytorchLayout({ name, shape: weight.shape.map(Number), values: Float32Array.from(await weight.read().data()) }),
    ),
  );
  const viewValues = 2 * batchSize * size * size * channels;
  const views = new Float32Array(options.steps * viewValues);
  const batches = new Int32Array(options.steps * batchSize);
  try {
    for (let step = 0; step < options.steps; step++) {
      const indices = sampler.next();
      batches.set(indices, step * batchSize);
      const images = gatherBatch(data.train.pixels, indices, size, channels);
      const both = augmentViews(images, config.augment, state.rng);
      views.set(await both.data(), step * viewValues);
      tf.dispose([images, both]);
    }
  } finally {
    disposeTrainState(state);
  }
  const out = options.out!;
  writeFileSync(`${out}.initial.safetensors`, encodeSafetensors(initial));
  writeFileSync(`${out}.batches.i32`, Buffer.from(batches.buffer));
  writeFileSync(`${out}.views.f32`, Buffer.from(views.buffer));
  writeFileSync(`${out}.json`, JSON.stringify({ seed: options.seed, steps: options.steps, batch: batchSize, size, channels, train: data.train.count, config }, null, 1));
  console.error(`dump-run: seed ${options.seed}, ${options.steps} steps of ${batchSize} images at ${size} px → ${out}.*`);
}

main().catch((e: Error) => {
  console.error(`dump-run: ${e.message}`);
  process.exit(1);
});
