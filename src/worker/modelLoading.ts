// Models loaded from a downloaded zip: checked through and through before anything changes, then opened as a finished
// run on the loaded images (maps, neighbours, embeddings), and the starting point of the next run.
import type { StateTensor } from '../engine/optim';
import { createTrainState, disposeTrainState } from '../engine/step';
import { writeWeights } from '../engine/savedState';
import { ModelZipError, readModelZip, type LoadedModel } from '../export/modelZip';
import type { TrainerContext } from './context';
import { TrainerError } from './errors';
import type { LoadedModelSummary, MonitorSettings } from './protocol';
import { buildRun } from './run';

/** A loaded model's weights to start from: the encoder's (every one must be there) and its heads', when it has them. */
export function startingWeights(loaded: LoadedModel, encoderWeights: string[]): StateTensor[] {
  const given = new Set(loaded.encoder.map((w) => w.name));
  const missing = encoderWeights.filter((name) => !given.has(name));
  if (missing.length) throw new Error(`the encoder lacks ${missing.length} weights (${missing.slice(0, 3).join(', ')}…)`);
  return [...loaded.encoder, ...(loaded.head ?? [])];
}

/**
 * Reads a zip and tries its weights on a model of its own architecture, which is then discarded: a zip that is not
 * tabclr's, is cut short or does not fit its config is refused with the reason, and nothing has changed.
 */
export function readModel(bytes: Uint8Array, fileName: string): LoadedModel {
  let loaded: LoadedModel;
  try {
    loaded = readModelZip(bytes, fileName);
  } catch (e) {
    if (e instanceof ModelZipError) throw new TrainerError('bad-model', `${fileName} cannot be loaded: ${e.message}.`);
    throw e;
  }
  const trial = createTrainState(loaded.config);
  try {
    writeWeights(trial.model, startingWeights(loaded, trial.model.encoder.weights.map((w) => w.originalName)), { partial: true });
  } catch (e) {
    throw new TrainerError('bad-model', `${fileName} cannot be loaded: ${(e as Error).message}.`);
  } finally {
    disposeTrainState(trial);
  }
  return loaded;
}

export function summaryOfLoaded(ctx: TrainerContext, model: LoadedModel): LoadedModelSummary {
  const { imageSize, channels } = model.config.model;
  const fitsImages = ctx.dataset !== null && ctx.dataset.imageSize === imageSize && ctx.dataset.channels === channels;
  return { fileName: model.fileName, config: model.config, step: model.step, version: model.version, hasHead: model.head !== null, fitsImages };
}

/** With images of the model's size loaded: the model as a finished run, so its map, neighbours and embeddings work. */
export async function openLoadedModel(ctx: TrainerContext, loaded: LoadedModel, monitor: MonitorSettings): Promise<void> {
  ctx.send({ type: 'model-loaded', model: summaryOfLoaded(ctx, loaded) });
  const dataset = ctx.dataset;
  const { imageSize, channels } = loaded.config.model;
  if (!dataset || dataset.imageSize !== imageSize || dataset.channels !== channels) return;
  await ctx.retireRun();
  const config = { ...loaded.config, batchSize: Math.min(loaded.config.batchSize, dataset.count) };
  // A finished run of loaded.step steps, which no checkpoint keeps (the zip is its record).
  const run = buildRun({
    name: loaded.fileName,
    config,
    dataset,
    monitor,
    totalSteps: loaded.step,
    checkpointEvery: 0,
    weights: [...loaded.encoder, ...(loaded.head ?? [])],
    step: loaded.step,
  });
  ctx.run = run;
  ctx.lastMetrics = null;
  ctx.reportState();
  const probe = run.monitor.probeSet();
  ctx.send({ type: 'probe', probe }, [probe.pixels.buffer]);
  await ctx.sendSnapshot(run);
}
