// The run loop: compile a run's pipelines, then step it until it ends, is paused or stopped, or meets a fault (handed
// to recovery.ts). Pause, resume and stop land between steps.
import * as tf from '@tensorflow/tfjs';
import { gatherBatch, EpochSampler } from '../engine/batches';
import { explodingLimit } from '../engine/divergence';
import { stepFlops } from '../engine/flops';
import { countParams } from '../engine/model';
import { Random } from '../engine/random';
import { compilePipelines, trainStep, type StepMetrics } from '../engine/step';
import type { TrainerContext } from './context';
import { TrainerError } from './errors';
import type { MemoryReport, RecordedStep } from './protocol';
import { recoverFromDivergence, recoverFromGpuError } from './recovery';
import type { Run } from './run';
import { UntrainedEncoder } from './untrained';
import { batchChangeProblems } from './validation';

/** With checkpoints off, how often the last good state is still kept in memory (for a non-finite loss to go back to). */
const IN_MEMORY_EVERY = 50;

/** Live tensors and GPU bytes, whatever the backend calls them. */
export function memoryReport(): MemoryReport {
  const info = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return { numTensors: info.numTensors, gpuBytes: typeof info.numBytesInGPU === 'number' ? info.numBytesInGPU : null };
}

/** Makes `run` the current run and starts it: compilation, then steps (for a new run, its untrained map and baselines beside them). */
export function launch(ctx: TrainerContext, run: Run, monitorFirst: boolean): void {
  ctx.run = run;
  ctx.lastMetrics = null;
  // An error the device reported before this run came from other work (a map, a matmul measure), not its steps.
  ctx.gpuError = null;
  ctx.enter('compiling');
  ctx.loop = ctx.loop.then(() => prepareAndTrain(ctx, monitorFirst));
}

/**
 * Compiles the GPU pipelines, then trains unless a pause or stop arrived meanwhile. A new run sends its probe set and
 * keeps a copy of its encoder as it starts: the step-0 map and the baselines are measured with it beside the first
 * steps (from the end of step 1), so that step 1 starts as soon as the pipelines are compiled. A pause during
 * compilation measures them before the pause is reported. A resumed run has sent its saved ones.
 */
async function prepareAndTrain(ctx: TrainerContext, monitorFirst: boolean): Promise<void> {
  const run = ctx.run!;
  const compileStarted = ctx.env.now();
  try {
    // Requests beside training (a preview, a download) wait for compilation, and it for them: on WebGL its last pass
    // draws every program at one pixel, which would leave garbage in their results.
    const compiled = ctx.sideWork.then(() => compilePipelines(run.state));
    ctx.sideWork = compiled.then(() => undefined, () => undefined);
    await compiled;
    const { model, config } = run.state;
    const parameters = countParams(model);
    ctx.send({
      type: 'run-info',
      info: { parameters, flopsPerStep: stepFlops(model, config.batchSize, config.model.projectionDim, parameters), compileMs: ctx.env.now() - compileStarted },
    });
  } catch (e) {
    ctx.disposeRun();
    ctx.enter('ready');
    ctx.reportError(new TrainerError('training-failed', `could not prepare the GPU for training: ${(e as Error).message}`));
    return;
  }
  // A pause during compilation still gets its map and baselines; only a stop skips them.
  if (ctx.phase === 'stopping') return;
  if (monitorFirst) {
    const probe = run.monitor.probeSet();
    ctx.send({ type: 'probe', probe }, [probe.pixels.buffer]);
    run.untrained = new UntrainedEncoder(run.state.model.encoder, run.state.config.model);
    if (ctx.phase !== 'compiling') await measureUntrained(ctx, run);
  }
  if (ctx.phase !== 'compiling') {
    if (ctx.phase === 'paused') await settlePause(ctx);
    return;
  }
  ctx.enter('training');
  await trainLoop(ctx);
}

/**
 * The map before any training and the baselines of a labelled run, from the run's untrained encoder: the first map's
 * own held-out accuracies (the encoder as the run starts) and raw pixels', by kNN and by the linear probe. Runs beside
 * training; a failure is reported and training goes on.
 */
function measureUntrained(ctx: TrainerContext, run: Run): Promise<void> {
  return run.untrained!.measure(async (encoder, signal) => {
    try {
      const first = await ctx.sendSnapshot(run, encoder, 0, signal);
      const raw = await run.monitor.evaluateRawPixels();
      if (first.knnAccuracy != null && first.probeAccuracy != null && raw) {
        run.history.baselines = { randomInit: first.knnAccuracy, rawPixels: raw.knn, probe: { randomInit: first.probeAccuracy, rawPixels: raw.probe } };
        ctx.send({ type: 'baselines', ...run.history.baselines });
      }
    } catch (e) {
      if (signal.aborted || ctx.run !== run) return;
      ctx.reportError(new TrainerError('training-failed', `could not map the untrained encoder: ${(e as Error).message}`));
    }
  });
}

async function trainLoop(ctx: TrainerContext): Promise<void> {
  const run = ctx.run!;
  try {
    while (ctx.phase === 'training' && run.state.step < run.totalSteps) {
      run.lastGood ??= await ctx.goodState(run);
      const metrics = await oneStep(ctx, run);
      if (ctx.deviceGone) return;
      // A buffer that could not be allocated, or a pipeline the device refused, leaves the step's results undefined
      // (often zeros): the step does not count.
      if (ctx.gpuError !== null) return await recoverFromGpuError(ctx, run, ctx.gpuError);
      if (!metrics.finite || metrics.exploding) return await recoverFromDivergence(ctx, run, metrics);
      const step = run.state.step;
      // Step 1 is done: the untrained encoder is measured beside the steps that follow.
      if (run.untrained && !run.untrained.started) void measureUntrained(ctx, run);
      if (step % run.monitor.settings.snapshotEvery === 0 || step === run.totalSteps) await ctx.sendSnapshot(run);
      // Checkpoints off: the last good state is still kept in memory now and then, for a non-finite loss to go back to.
      if (run.checkpointEvery > 0 ? step % run.checkpointEvery === 0 : step % IN_MEMORY_EVERY === 0) await ctx.saveCheckpoint(run);
      await ctx.env.nextTask();
    }
    if (ctx.phase === 'training') {
      // The last checkpoint and the finished run have the untrained encoder's map and baselines too.
      await run.untrained?.done();
      await ctx.saveCheckpoint(run);
      ctx.enter('ready');
    } else if (ctx.phase === 'paused') {
      await settlePause(ctx);
    }
  } catch (e) {
    // A lost device fails the step in flight: the page restarts the trainer, nothing more to say here.
    if (ctx.deviceGone) return;
    const message = (e as Error).message;
    // The WebGL backend throws where WebGPU reports an error event.
    const gpuError = ctx.gpuError ?? (/out of memory|OOM|failed to allocate/i.test(message) ? { kind: 'out-of-memory' as const, message } : null);
    if (run.lastGood && gpuError) return await recoverFromGpuError(ctx, run, gpuError);
    ctx.enter('paused');
    ctx.reportError(new TrainerError('training-failed', `training step failed: ${message}.`));
  }
}

/** One step and its report; its update was skipped when the loss was not finite or the gradients exploded. */
async function oneStep(ctx: TrainerContext, run: Run): Promise<StepMetrics> {
  const dataset = ctx.dataset!;
  ctx.env.beforeStep?.(run.state.step + 1, run.state.params);
  const started = ctx.env.now();
  const batch = gatherBatch(dataset.pixels, run.sampler.next(), dataset.imageSize, dataset.channels);
  let metrics: StepMetrics;
  try {
    metrics = await trainStep(run.state, batch, { profile: run.monitor.settings.profileSteps, maxGradNorm: explodingLimit(run.history.steps) });
  } finally {
    batch.dispose();
  }
  ctx.lastMetrics = metrics;
  const stepMs = ctx.env.now() - started;
  const imagesPerSec = (run.state.config.batchSize * 1000) / Math.max(stepMs, 1e-3);
  const { timings: _timings, ...recorded } = metrics;
  const step: RecordedStep = { ...recorded, stepMs, imagesPerSec, totalSteps: run.totalSteps };
  run.history.steps.push(step);
  ctx.send({ type: 'metrics', report: { ...step, timings: metrics.timings, memory: memoryReport() } });
  return metrics;
}

/** The loop has left a paused run between steps: the page hears "paused" with the step it stopped at, and it is saved. */
async function settlePause(ctx: TrainerContext): Promise<void> {
  ctx.enter('paused');
  if (ctx.run) await ctx.saveCheckpoint(ctx.run);
}

/** Pauses between steps: the step in flight finishes first. */
export function pause(ctx: TrainerContext): void {
  // The loop sees the phase before its next step and settles the pause (see trainLoop and prepareAndTrain).
  ctx.phase = 'paused';
}

/** Goes on with a paused run; with batchSize, at that batch from now on (after running out of GPU memory). */
export function resume(ctx: TrainerContext, batchSize?: number): void {
  const run = ctx.run!;
  if (run.state.step >= run.totalSteps) throw new TrainerError('no-run', 'the run has reached its last step');
  // An error the device reported while the run was paused came from other work (a map, an export), not a step.
  ctx.gpuError = null;
  if (batchSize === undefined || batchSize === run.state.config.batchSize) {
    ctx.enter('training');
    ctx.loop = ctx.loop.then(() => trainLoop(ctx));
    return;
  }
  const config = { ...run.state.config, batchSize };
  const problems = batchChangeProblems(config, ctx.dataset!, ctx.readyBackend.maxBufferBytes);
  if (problems.length) throw new TrainerError('bad-config', problems.map((p) => p.message).join('; '));
  // The sampler's place in its epoch does not depend on the batch: the new one goes on where the old one was.
  const sampler = new EpochSampler(ctx.dataset!.count, batchSize, new Random(config.seed));
  sampler.setState(run.sampler.getState());
  run.sampler = sampler;
  run.state = { ...run.state, config };
  run.monitor.batchSize = batchSize;
  // The last good state stays valid: weights and optimiser slots do not depend on the batch either.
  ctx.enter('compiling');
  ctx.loop = ctx.loop.then(() => prepareAndTrain(ctx, false));
}

/** Stops between steps and writes the run's checkpoint. The run's model stays for maps and downloads. */
export async function stop(ctx: TrainerContext): Promise<void> {
  ctx.phase = 'stopping';
  // Stop frees the GPU at once: the untrained encoder's measurement, if still going, ends at its next batch.
  ctx.run?.untrained?.cancel();
  await ctx.loop;
  await ctx.run?.untrained?.done();
  if (ctx.run) await ctx.saveCheckpoint(ctx.run);
  ctx.enter('ready');
}
