// Fault recovery: a run that meets a non-finite loss, exploding gradients or a GPU error goes back to its last good
// state and pauses, saying what happened and what Resume will do; a lost device is reported for the page to replace
// the trainer.
import type { TrainConfig } from '../engine/config';
import { recentGradNorm } from '../engine/divergence';
import { smallestBatch } from '../engine/methods';
import { restoreTrainState } from '../engine/savedState';
import type { StepMetrics } from '../engine/step';
import type { TrainerContext } from './context';
import type { GpuErrorKind } from './environment';
import type { Run } from './run';

/** Pauses the run and puts it back to its last good state; returns the step it went back to. */
function rewind(ctx: TrainerContext, run: Run): number {
  ctx.phase = 'paused';
  const good = run.lastGood!;
  restoreTrainState(run.state, good.trainState);
  run.sampler.setState(good.sampler);
  run.history.steps.length = good.steps;
  const step = run.state.step;
  // By step: the untrained encoder's map (step 0) may have come after the good state was taken.
  run.history.snapshots = run.history.snapshots.filter((s) => s.step <= step);
  const last = run.history.steps.at(-1);
  ctx.lastMetrics = last ? { ...last, timings: null } : null;
  ctx.send({ type: 'run-rewound', step, history: run.history.steps.slice() });
  return step;
}

/**
 * A non-finite loss or exploding gradients: the run pauses, goes back to its last good state (the last checkpoint, or
 * the start) with half the learning rate, and says so; Resume goes on from there. The bad step's update was never
 * applied.
 */
export async function recoverFromDivergence(ctx: TrainerContext, run: Run, bad: StepMetrics): Promise<void> {
  const badStep = run.state.step;
  // Read before the history is rewound: the norms the bad step was judged against.
  const recentNorm = recentGradNorm(run.history.steps.slice(0, -1));
  const restoredStep = rewind(ctx, run);
  const { config } = run.state;
  const learningRate = config.optim.learningRate / 2;
  run.state = { ...run.state, config: { ...config, optim: { ...config.optim, learningRate } } };
  const exploding = bad.finite && bad.exploding;
  const what = exploding
    ? `Step ${badStep}'s gradients exploded: their norm was ${bad.gradNorm.toExponential(2)}, ` +
      `${Math.round(bad.gradNorm / recentNorm!)}× the recent median of ${recentNorm!.toExponential(2)}, so its update was not applied.`
    : `Step ${badStep} gave a non-finite ${Number.isFinite(bad.loss) ? 'gradient (NaN or infinity)' : 'loss (NaN or infinity)'}: training diverged.`;
  ctx.send({
    type: 'fault',
    fault: {
      kind: exploding ? 'exploding' : 'non-finite',
      step: badStep,
      runId: run.id,
      restoredStep,
      learningRate,
      message:
        `${what} The run went back to step ${restoredStep}, its last good state, and the learning rate is halved to ` +
        `${learningRate.toExponential(2)}. Press Resume to go on.`,
      suggestedBatch: null,
    },
  });
  ctx.enter('paused');
  // The lower learning rate goes into the checkpoint, so that a reload keeps it.
  run.savedStep = -1;
  await ctx.saveCheckpoint(run);
}

/**
 * The batch offered after running out of memory: half the run's, never below what the method's settings need (MoCo: 2
 * images in each shuffled batch-norm group, which a resume at a smaller batch is refused for); null when none is smaller.
 */
export function halvedBatch(config: Pick<TrainConfig, 'batchSize' | 'method'>): number | null {
  const smallest = smallestBatch(config.method);
  return config.batchSize > smallest ? Math.max(smallest, Math.floor(config.batchSize / 2)) : null;
}

/**
 * The GPU reported an error during the step: the step is undone (the run goes back to its last good state) and the
 * run pauses. Out of memory offers half the batch (Resume with it: the page's "Continue with batch N"); any other error
 * is a bug to report, and Resume tries again.
 */
export async function recoverFromGpuError(ctx: TrainerContext, run: Run, error: { kind: GpuErrorKind; message: string }): Promise<void> {
  const badStep = run.state.step;
  ctx.gpuError = null;
  const restoredStep = rewind(ctx, run);
  const batch = run.state.config.batchSize;
  const outOfMemory = error.kind === 'out-of-memory';
  const suggestedBatch = outOfMemory ? halvedBatch(run.state.config) : null;
  const back = `The run went back to step ${restoredStep}, its last good state.`;
  const message = outOfMemory
    ? `The GPU ran out of memory at step ${badStep} with a batch of ${batch} (${error.message}). ${back} ` +
      (suggestedBatch === null ? 'Stop, and train on smaller images or a narrower encoder.' : `Continue with a batch of ${suggestedBatch}, or stop and choose smaller settings.`)
    : `The GPU refused part of step ${badStep} (${error.kind} error: ${error.message}), so its results cannot be trusted. ${back} ` +
      'This is a fault in tabclr or in the browser: please report it with this message. Resume tries again.';
  ctx.send({
    type: 'fault',
    fault: { kind: outOfMemory ? 'out-of-memory' : 'gpu-error', step: badStep, runId: run.id, restoredStep, learningRate: null, suggestedBatch, message },
  });
  ctx.enter('paused');
  await ctx.saveCheckpoint(run);
}

/** The GPU device went away: everything on it is gone, so the page restarts the trainer and resumes the run. */
export function deviceLost(ctx: TrainerContext, reason: string): void {
  ctx.deviceGone = true;
  const run = ctx.run;
  // Only a run with a checkpoint can come back, and only one still meant to train (not one being stopped).
  const resumable = run !== null && run.checkpointed && (ctx.phase === 'compiling' || ctx.phase === 'training' || ctx.phase === 'paused');
  ctx.send({
    type: 'fault',
    fault: {
      kind: 'device-lost',
      step: run?.state.step ?? 0,
      runId: resumable ? run.id : null,
      restoredStep: null,
      learningRate: null,
      suggestedBatch: null,
      message: `The GPU device was lost (${reason || 'no reason given'}), as happens when a driver resets or the tab sleeps for long.`,
    },
  });
}
