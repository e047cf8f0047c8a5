// The one check of a run's settings, shared by the page (which shows each problem next to its field and keeps Start
// disabled) and the worker (which refuses a start request with them all). No tfjs here.
import { validateTrainConfig, type ConfigProblem, type TrainConfig } from '../engine/config';
import { bufferLimitProblem } from '../engine/memory';
import { methodBatchProblems, methodCautions, methodDataProblems } from '../engine/methods';
import { MAX_PROBE_IMAGES, type DatasetSummary, type MonitorSettings } from './protocol';

/** The longest run and checkpoint interval: far beyond any run in a tab, small enough to be a number a person typed on purpose. */
export const MAX_STEPS = 1_000_000;

/** What a start request asks for. */
export interface RunRequest {
  config: TrainConfig;
  steps: number;
  monitor: MonitorSettings;
  checkpointEvery: number;
}

/** What the request is checked against. */
export interface RunContext {
  dataset: Pick<DatasetSummary, 'count' | 'imageSize' | 'channels'> | null;
  /** The device's per-buffer limit; null when unknown. */
  maxBufferBytes: number | null;
  /** A model loaded from a zip, which the run would start from: its architecture must be the run's. */
  loadedModel?: { fileName: string; config: TrainConfig } | null;
}

/** The layers and shapes of a config: a loaded model's weights fit a model built from another config with the same. */
export function sameArchitecture(a: TrainConfig, b: TrainConfig): boolean {
  const keys = ['encoder', 'width', 'imageSize', 'channels', 'headLayers', 'headHidden', 'representationRelu', 'projectionDim'] as const;
  return a.method.name === b.method.name && keys.every((k) => a.model[k] === b.model[k]);
}

export function describeArchitecture(config: TrainConfig): string {
  const m = config.model;
  return `${m.encoder} (width ${m.width}, ${m.imageSize} px × ${m.channels}, head ${m.headLayers} layers → ${m.projectionDim}, ${config.method.name})`;
}

const isWhole = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;

export function snapshotEveryProblem(steps: number): string | null {
  return isWhole(steps, 1, MAX_STEPS) ? null : `must be a whole number of steps from 1 to ${MAX_STEPS.toLocaleString('en')}, got ${steps}`;
}

export function probeCountProblem(count: number): string | null {
  return isWhole(count, 2, MAX_PROBE_IMAGES) ? null : `must be a whole number from 2 to ${MAX_PROBE_IMAGES}, got ${count}`;
}

export function checkpointEveryProblem(steps: number): string | null {
  return isWhole(steps, 0, MAX_STEPS) ? null : `must be a whole number of steps from 0 (off) to ${MAX_STEPS.toLocaleString('en')}, got ${steps}`;
}

/** Everything wrong with a start request, each with its field ('steps', 'monitor.probeCount', 'method.temperature', …). */
export function runProblems(request: RunRequest, context: RunContext): ConfigProblem[] {
  const { config, steps, monitor, checkpointEvery } = request;
  const problems = validateTrainConfig(config);
  const add = (field: string, message: string | null) => {
    if (message) problems.push({ field, message: `${field}: ${message}` });
  };
  add('steps', isWhole(steps, 1, MAX_STEPS) ? null : `must be a whole number from 1 to ${MAX_STEPS.toLocaleString('en')}, got ${steps}`);
  // The page sets the schedule's length to the run's; anything else sent here is a mistake in the caller.
  if (Number.isInteger(steps)) add('optim.totalSteps', config.optim.totalSteps === steps ? null : `the learning-rate schedule spans ${config.optim.totalSteps} steps but the run has ${steps}`);
  add('monitor.snapshotEvery', snapshotEveryProblem(monitor.snapshotEvery));
  add('monitor.probeCount', probeCountProblem(monitor.probeCount));
  add('checkpointEvery', checkpointEveryProblem(checkpointEvery));
  add('batchSize', bufferLimitProblem(config, context.maxBufferBytes));
  for (const { key, message } of methodBatchProblems(config.method, config.batchSize)) add(`method.${key}`, message);
  const { dataset, loadedModel } = context;
  if (dataset) {
    add('batchSize', config.batchSize > dataset.count ? `the data set has only ${dataset.count} images` : null);
    for (const { key, message } of methodDataProblems(config.method, { datasetSize: dataset.count, batchSize: config.batchSize })) add(`method.${key}`, message);
    const fits = config.model.imageSize === dataset.imageSize && config.model.channels === dataset.channels;
    add(
      'model.imageSize',
      fits ? null : `the images are ${dataset.imageSize} px × ${dataset.channels} channels but the model expects ${config.model.imageSize} px × ${config.model.channels}`,
    );
  }
  if (loadedModel && !sameArchitecture(loadedModel.config, config)) {
    add(
      'model',
      `the loaded model (${loadedModel.fileName}) is a ${describeArchitecture(loadedModel.config)} but the settings ask for a ${describeArchitecture(config)}: set them back, or forget the loaded model to start from scratch`,
    );
  }
  return problems;
}

/** What is wrong with going on at another batch (out of GPU memory): the config, the images, the device. */
export function batchChangeProblems(config: TrainConfig, dataset: Pick<DatasetSummary, 'count'>, maxBufferBytes: number | null): ConfigProblem[] {
  const problems = validateTrainConfig(config);
  if (config.batchSize > dataset.count) problems.push({ field: 'batchSize', message: `batchSize: the data set has only ${dataset.count} images` });
  const tooLarge = bufferLimitProblem(config, maxBufferBytes);
  if (tooLarge) problems.push({ field: 'batchSize', message: `batchSize: ${tooLarge}` });
  for (const { key, message } of methodBatchProblems(config.method, config.batchSize)) problems.push({ field: `method.${key}`, message: `method.${key}: ${message}` });
  return problems;
}

/**
 * Settings that train but give up part of what the method relies on (MoCo with its shuffled batch norm off), by field:
 * the page says them beside the field and still lets the run start.
 */
export function runCautions(config: TrainConfig): ConfigProblem[] {
  return methodCautions(config.method).map(({ key, message }) => ({ field: `method.${key}`, message }));
}
