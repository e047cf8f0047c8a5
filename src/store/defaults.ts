// Settings that fit the data at hand and the device: what a first-time user gets without touching anything.
import { defaultTrainConfig, type TrainConfig } from '../engine/config';
import { checkBufferLimit } from '../engine/memory';
import type { BackendReport, DatasetSummary } from '../worker/protocol';

export interface RunSettings {
  config: TrainConfig;
  steps: number;
}

/**
 * The recipe's defaults at the images' own size, a batch that the data set can fill, and, on a software
 * adapter (100× slower than a GPU), a small model and batch so that steps take seconds rather than minutes.
 */
export function suggestedSettings(dataset: DatasetSummary, backend: BackendReport | null): RunSettings {
  // SimCLR at every batch, the small ones a tab affords included: MoCo v2 was measured against it at batches 16 and 32
  // (equal steps, three seeds, four sets) and was nowhere ahead (BENCHMARKS.md, "MoCo v2 against SimCLR").
  const config = defaultTrainConfig(dataset.imageSize, dataset.channels);
  const slow = backend?.isFallbackAdapter ?? false;
  const largestPowerOfTwo = 2 ** Math.floor(Math.log2(Math.max(2, dataset.count)));
  config.batchSize = Math.min(slow ? 16 : 128, largestPowerOfTwo);
  if (slow) config.model.width = 0.25;
  // On a software adapter the run is short, and a short run wants a larger step: on the 300-image sample (28 px, batch
  // 16, the model new runs get) 50 steps at 3e-3 end 11 kNN points above the untrained encoder, at 1e-3 8 points
  // (BENCHMARKS.md, "Defaults").
  if (slow) config.optim.learningRate = 3e-3;
  config.batchSize = fittingBatch(config, backend);
  const steps = slow ? 50 : 1000;
  config.optim.totalSteps = steps;
  config.optim.warmupSteps = Math.min(config.optim.warmupSteps, Math.floor(steps / 10));
  return { config, steps };
}

/** The batch halved until its largest buffer fits the device's per-buffer limit (src/engine/memory.ts). */
function fittingBatch(config: TrainConfig, backend: BackendReport | null): number {
  let batch = config.batchSize;
  const limit = backend?.maxBufferBytes;
  while (limit && batch > 2 && !checkBufferLimit(config.model, batch, limit).fits) batch = Math.max(2, Math.floor(batch / 2));
  return batch;
}

export type PresetName = 'quick' | 'quality';

export const PRESETS: Record<PresetName, { label: string; description: string }> = {
  quick: { label: 'Quick look', description: 'A small convnet4 for a few hundred steps: a first map within minutes.' },
  quality: { label: 'Best quality', description: 'ResNet-18, the largest batch the images allow, 2,000 steps with warm-up: for a long run on a real GPU.' },
};

/** A preset on top of the data-fitted defaults; augmentation and temperature stay as the user set them. */
export function applyPreset(current: RunSettings, preset: PresetName, dataset: DatasetSummary, backend: BackendReport | null): RunSettings {
  const base = suggestedSettings(dataset, backend);
  const largestPowerOfTwo = 2 ** Math.floor(Math.log2(Math.max(2, dataset.count)));
  const config = { ...current.config, model: { ...current.config.model }, optim: { ...current.config.optim } };
  let steps: number;
  if (preset === 'quick') {
    config.model.encoder = 'convnet4';
    config.model.width = backend?.isFallbackAdapter ? 0.25 : 0.5;
    config.batchSize = Math.min(backend?.isFallbackAdapter ? 16 : 64, largestPowerOfTwo);
    steps = backend?.isFallbackAdapter ? 30 : 300;
  } else {
    config.model.encoder = 'resnet18';
    config.model.width = 1;
    config.batchSize = Math.min(256, largestPowerOfTwo);
    steps = 2000;
  }
  config.batchSize = fittingBatch(config, backend);
  config.optim.optimizer = base.config.optim.optimizer;
  config.optim.learningRate = base.config.optim.learningRate;
  config.optim.totalSteps = steps;
  config.optim.warmupSteps = Math.round(steps / 20);
  return { config, steps };
}
