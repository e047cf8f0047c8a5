// Reads the run's curves the way an experienced person would and says, in words, when something is wrong:
// the loss went NaN, the embeddings collapsed, or nothing is being learnt (../shared/docs/simclr-recipe.md,
// "Is my loss value normal?", "it collapsed and I didn't notice", "NaN after a few epochs"). The levels a run is
// judged by are its method's (src/engine/methods: SimCLR's ln(2N − 1), say).
import { healthyEmbeddingStd } from '../engine/levels';
import { methodOf, type MethodName } from '../engine/methods';
import type { MetricsColumns } from './metricsHistory';

export interface HealthWarning {
  kind: 'diverged' | 'collapsed' | 'stuck';
  title: string;
  cause: string;
  fix: string;
}

export interface HealthContext {
  method: MethodName;
  batchSize: number;
  projectionDim: number;
  warmupSteps: number;
  /** The configured (peak) learning rate. */
  learningRate: number;
  /** The method's settings (MoCo's levels depend on its queue size); its defaults when left out. */
  settings?: Record<string, number>;
}

/** The columns assessHealth reads; MetricsHistory.columns() has them all. */
export type HealthColumns = Pick<MetricsColumns, 'length' | 'step' | 'methodLoss' | 'methodLossSmoothed' | 'embeddingStd' | 'finite'>;

// The page judges the same levels the engine reports (levels.ts and the method files have no tfjs at run time).
export { healthyEmbeddingStd };

/** Steps looked back at for a non-finite loss. */
export const DIVERGED_WINDOW = 20;
/** Recent steps whose loss and embedding std are averaged for the collapse check. */
export const STD_WINDOW = 5;
/** Steps a run needs before a collapse is called: a collapse shows within a few steps (std → 0). */
export const COLLAPSE_MIN_STEPS = 8;
/** Collapse: the recent loss is within the method's tolerance of its collapse level, and the embedding std is below this fraction of 1/√d. */
export const COLLAPSE_STD_FRACTION = 0.2;
/** Stuck: the smoothed loss never got below this fraction of the method's no-learning level (SimCLR's ln(2N − 1)). */
export const STUCK_LOSS_FRACTION = 0.98;

/**
 * Held-out accuracy (kNN or the linear probe) this far above the untrained encoder's (as a fraction: 5 points) shows
 * the encoder is learning, whatever the loss says: a short run on a small batch often lowers the loss too little to
 * see while its representation already sorts the images better (the software adapter's 50-step default on the
 * sample: loss 3.37 against ln 31 = 3.43, kNN 33 % → 50 %).
 */
export const LEARNING_MARGIN = 0.05;

/** The latest held-out evaluation after step 0 and the untrained encoder's, when sub-folders give labels. */
export interface HeldOutProgress {
  knn: number;
  knnUntrained: number | null;
  probe: number | null;
  probeUntrained: number | null;
}

function learningShown(heldOut: HeldOutProgress | null | undefined): boolean {
  if (!heldOut) return false;
  const above = (value: number | null, untrained: number | null) =>
    value !== null && untrained !== null && Number.isFinite(value) && value >= untrained + LEARNING_MARGIN;
  return above(heldOut.knn, heldOut.knnUntrained) || above(heldOut.probe, heldOut.probeUntrained);
}

/** A number for people: 3 significant digits, "3e-4" style for small learning rates. */
function num(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential(Math.max(0, digits - 2)).replace(/\.?0+e/, 'e');
  return String(Number(value.toPrecision(digits)));
}

/** An embedding std: plain decimals ("0.0884", "0.001"). */
function stdText(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(3))) : String(value);
}

/** A suggested learning rate, rounded to one significant digit ("1e-4", "0.03"). */
function lrText(value: number): string {
  return num(Number(value.toPrecision(1)), 1);
}

function meanOfLast(values: Float64Array, count: number): number {
  let sum = 0;
  let n = 0;
  for (let i = Math.max(0, values.length - count); i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      sum += v;
      n += 1;
    }
  }
  return n ? sum / n : NaN;
}

function lastFinite(values: Float64Array): number {
  for (let i = values.length - 1; i >= 0; i--) if (Number.isFinite(values[i]!)) return values[i]!;
  return NaN;
}

function diverged(columns: HealthColumns, context: HealthContext): HealthWarning | null {
  const n = columns.length;
  let bad = 0;
  let sawNaN = false;
  for (let i = Math.max(0, n - DIVERGED_WINDOW); i < n; i++) {
    const v = columns.methodLoss[i]!;
    if (!columns.finite[i] || !Number.isFinite(v)) {
      bad += 1;
      if (Number.isNaN(v) || Number.isFinite(v)) sawNaN = true;
    }
  }
  if (bad === 0) return null;
  // A flagged step with a finite method loss had a non-finite objective; call it NaN, the word people search for.
  const kind = sawNaN ? 'NaN' : 'infinite';
  const window = Math.min(n, DIVERGED_WINDOW);
  const lr = context.learningRate;
  const warmup =
    context.warmupSteps >= 10
      ? `keep the warm-up (${context.warmupSteps} steps) or lengthen it`
      : 'add a linear warm-up of about 100 steps so the first updates are small';
  return {
    kind: 'diverged',
    title: `Training diverged: the loss is ${kind}`,
    cause:
      `${bad === window ? `Every one of the last ${window} steps` : `${bad} of the last ${window} steps`} gave ${kind === 'NaN' ? 'a NaN' : 'an infinite'} loss (those updates were skipped). ` +
      `Usually the learning rate (${num(lr)}) is too high for batch ${context.batchSize} with this optimiser; ` +
      'less often an image holds invalid values.',
    fix: `Stop, lower the learning rate to ${lrText(lr / 10)} (a tenth), ${warmup}, and check that the images load correctly.`,
  };
}

/** A method's level condition after a word: ' at batch 64', ' with a queue of 4,096 keys', or nothing. */
const spaced = (condition: string) => (condition ? ` ${condition}` : '');

function levelsOf(context: HealthContext) {
  const method = methodOf({ name: context.method });
  return { method, levels: method.levels({ batchSize: context.batchSize, projectionDim: context.projectionDim, ...(context.settings && { settings: context.settings }) }) };
}

function collapsed(columns: HealthColumns, context: HealthContext): HealthWarning | null {
  const n = columns.length;
  if (n < COLLAPSE_MIN_STEPS) return null;
  const lastStep = columns.step[n - 1]!;
  if (lastStep <= context.warmupSteps) return null;
  const { method, levels } = levelsOf(context);
  const { loss: level, label } = levels.collapsed;
  // The recent raw loss, not the smoothed one: a collapse is abrupt and the average would lag it by many steps.
  const recent = meanOfLast(columns.methodLoss, STD_WINDOW);
  if (!(Math.abs(recent - level) <= levels.collapsed.tolerance)) return null;
  const healthy = healthyEmbeddingStd(context.projectionDim);
  const std = meanOfLast(columns.embeddingStd, STD_WINDOW);
  if (!(std < COLLAPSE_STD_FRACTION * healthy)) return null;
  return {
    kind: 'collapsed',
    title: 'The embeddings have collapsed',
    cause:
      `The loss has stayed at ${num(recent)}, ${method.label}'s level for a collapse${spaced(levels.condition)} (${label}), ` +
      `and the embedding spread is ${stdText(std)}, far below the healthy ${stdText(healthy)} (1/√${context.projectionDim}): ` +
      'every image is mapped to nearly the same point, so the encoder tells nothing apart.',
    fix: `Restart with a lower learning rate (try ${lrText(context.learningRate / 10)}) and ${method.advice.collapsed}.`,
  };
}

function stuck(columns: HealthColumns, context: HealthContext, heldOut?: HeldOutProgress | null): HealthWarning | null {
  const n = columns.length;
  if (n < 20) return null;
  // Held-out images say it is learning: a flat loss is then no reason to tell the person nothing is.
  if (learningShown(heldOut)) return null;
  const lastStep = columns.step[n - 1]!;
  const after = Math.max(50, 2 * context.warmupSteps);
  if (lastStep < after) return null;
  const { method, levels } = levelsOf(context);
  if (levels.noLearning === null || method.advice.stuck === null) return null;
  const { loss: level, label } = levels.noLearning;
  const threshold = STUCK_LOSS_FRACTION * level;
  const smoothed = lastFinite(columns.methodLossSmoothed);
  if (!(smoothed >= threshold)) return null;
  // Not stuck if it ever got clearly below the no-learning level.
  for (let i = 0; i < n; i++) if (columns.methodLossSmoothed[i]! < threshold) return null;
  const healthy = healthyEmbeddingStd(context.projectionDim);
  const std = meanOfLast(columns.embeddingStd, STD_WINDOW);
  if (!(std >= COLLAPSE_STD_FRACTION * healthy)) return null;
  return {
    kind: 'stuck',
    title: 'Nothing is being learnt yet',
    cause:
      `After ${lastStep} steps the loss is still ${num(smoothed)}, the no-learning level${spaced(levels.condition)} (${label}), ` +
      `although the embeddings are spread out (std ${stdText(std)}, healthy ≈ ${stdText(healthy)}): ${levels.noLearning.meaning}. ` +
      `Either the learning rate (${num(context.learningRate)}) is too low, or the task is badly posed: augmentations so strong the views share little, ` +
      'or images so alike (near-duplicates, blank frames) that there is nothing to tell apart.',
    fix: `Try a higher learning rate (${lrText(context.learningRate * 3)}, three times as high), ${method.advice.stuck}.`,
  };
}

/**
 * What is wrong with the run so far, most urgent first; empty when it looks healthy. Reads the method's own loss
 * (not the objective, which the entropy term shifts) so the comparison with its levels holds. With labels, `heldOut`
 * keeps a run whose held-out accuracy rose clearly above the untrained encoder's from being called stuck.
 */
export function assessHealth(columns: HealthColumns, context: HealthContext, heldOut?: HeldOutProgress | null): HealthWarning[] {
  if (columns.length === 0) return [];
  const warnings: HealthWarning[] = [];
  for (const check of [diverged, collapsed, stuck]) {
    const warning = check(columns, context, heldOut);
    if (warning) warnings.push(warning);
  }
  return warnings;
}
