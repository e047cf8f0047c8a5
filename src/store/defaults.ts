// Settings that fit the data at hand and the device: what a first-time user gets without touching anything.
import { defaultTrainConfig, type TrainConfig } from '../simclr/config';
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
  const config = defaultTrainConfig(dataset.imageSize, dataset.channels);
  const slow = backend?.isFallbackAdapter ?? false;
  const largestPowerOfTwo = 2 ** Math.floor(Math.log2(Math.max(2, dataset.count)));
  config.batchSize = Math.min(slow ? 16 : 128, largestPowerOfTwo);
  if (slow) config.model.width = 0.25;
  const steps = slow ? 50 : 1000;
  config.optim.totalSteps = steps;
  config.optim.warmupSteps = Math.min(config.optim.warmupSteps, Math.floor(steps / 10));
  return { config, steps };
}
