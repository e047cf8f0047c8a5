// tabclr's side of the parity harness without the page: the same src/engine code the worker runs (createTrainState,
// EpochSampler seeded as the worker seeds it, gatherBatch, trainStep with the exploding-gradient limit,
// embedImages in inference mode and knnAccuracy), driven in Node on the tfjs CPU backend, fed the pixels the
// reference itself loaded (scripts/parity/folder_pixels.py), so that a difference can only come from the engine.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { EpochSampler, gatherBatch } from '../../../src/engine/batches';
import { defaultTrainConfig, type TrainConfig } from '../../../src/engine/config';
import { explodingLimit, type NormRecord } from '../../../src/engine/divergence';
import { embedImages, rawPixelVectors } from '../../../src/engine/embed';
import { knnAccuracy } from '../../../src/engine/knn';
import { Random } from '../../../src/engine/random';
import { createTrainState, disposeTrainState, trainStep } from '../../../src/engine/step';

export const KNN_K = 20;
export const KNN_TEMPERATURE = 0.1;

/** A labelled train/test pair as folder_pixels.py wrote it. */
export interface PixelSplit {
  classes: string[];
  channels: 1 | 3;
  size: number;
  train: { pixels: Uint8Array; labels: Int32Array; count: number };
  test: { pixels: Uint8Array; labels: Int32Array; count: number };
}

export function readPixelSplit(prefix: string): PixelSplit {
  const meta = JSON.parse(readFileSync(`${prefix}.json`, 'utf8')) as {
    classes: string[];
    channels: 1 | 3;
    size: number;
    train: { count: number; labels: number[] };
    test: { count: number; labels: number[] };
  };
  const part = (name: 'train' | 'test') => {
    const pixels = new Uint8Array(readFileSync(`${prefix}.${name}.u8`));
    const { count, labels } = meta[name];
    if (pixels.length !== count * meta.size * meta.size * meta.channels) throw new Error(`${prefix}.${name}.u8 has ${pixels.length} bytes, expected ${count} images`);
    return { pixels, labels: Int32Array.from(labels), count };
  };
  return { classes: meta.classes, channels: meta.channels, size: meta.size, train: part('train'), test: part('test') };
}

export interface EngineRunResult {
  /** kNN accuracy of the test images against the train images at each evaluated step (0 = untrained). */
  knnAtStep: Record<number, number>;
  rawPixels: number;
  /** NT-Xent at every step. */
  losses: number[];
  seconds: number;
}

/** tabclr's config for the parity settings (issue #13); the rest as the page suggests for a 16 px folder. */
export function parityTrainConfig(steps: number, seed: number, channels: 1 | 3): TrainConfig {
  const config = defaultTrainConfig(16, channels);
  config.model.width = 0.25;
  config.batchSize = 32;
  config.seed = seed;
  Object.assign(config.optim, { optimizer: 'adam', learningRate: 3e-3, weightDecay: 1e-4, warmupSteps: Math.min(10, Math.floor(steps / 10)), totalSteps: steps });
  return config;
}

const indices = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The trained (or untrained) encoder's kNN accuracy on the split, memory = train images, queries = test images. */
export async function encoderKnn(encoder: tf.LayersModel, data: PixelSplit, batch = 250): Promise<number> {
  const { size, channels } = data;
  const train = await embedImages(encoder, data.train.pixels, indices(data.train.count), size, channels, batch);
  const test = await embedImages(encoder, data.test.pixels, indices(data.test.count), size, channels, batch);
  const dim = train.length / data.train.count;
  return knnAccuracy(train, data.train.labels, test, data.test.labels, dim, data.classes.length, KNN_K, KNN_TEMPERATURE);
}

export async function rawPixelKnn(data: PixelSplit): Promise<number> {
  const { size, channels } = data;
  const train = rawPixelVectors(data.train.pixels, indices(data.train.count), size, channels);
  const test = rawPixelVectors(data.test.pixels, indices(data.test.count), size, channels);
  return knnAccuracy(train, data.train.labels, test, data.test.labels, size * size * channels, data.classes.length, KNN_K, KNN_TEMPERATURE);
}

/** One run as the worker does it, evaluated at step 0, at `evalAt` and at the end. */
export async function engineRun(
  data: PixelSplit,
  config: TrainConfig,
  steps: number,
  evalAt: number[],
  onStep?: (step: number, loss: number) => void,
): Promise<EngineRunResult> {
  await tf.setBackend('cpu');
  const started = performance.now();
  const state = createTrainState(config);
  const sampler = new EpochSampler(data.train.count, config.batchSize, new Random(config.seed));
  const knnAtStep: Record<number, number> = { 0: await encoderKnn(state.model.encoder, data) };
  const history: NormRecord[] = [];
  const losses: number[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      const batch = gatherBatch(data.train.pixels, sampler.next(), data.size, data.channels);
      let metrics;
      try {
        metrics = await trainStep(state, batch, { maxGradNorm: explodingLimit(history) });
      } finally {
        batch.dispose();
      }
      history.push(metrics);
      losses.push(metrics.methodLoss);
      onStep?.(step, metrics.methodLoss);
      if (evalAt.includes(step) || step === steps) knnAtStep[step] = await encoderKnn(state.model.encoder, data);
    }
  } finally {
    disposeTrainState(state);
  }
  return { knnAtStep, rawPixels: await rawPixelKnn(data), losses, seconds: (performance.now() - started) / 1000 };
}
