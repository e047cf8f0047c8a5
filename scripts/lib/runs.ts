// What a training run's step reports add up to, and how a step is shown: one line for people, one JSON record for
// programs. Pure.
import { METHODS } from '../../src/engine/methods';
import type { DiagnosticSpec } from '../../src/engine/methods/method';
import type { RunInfo, StepReport } from '../../src/worker/protocol';
import { median, round } from './stats';

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The step's diagnostics with snake_case keys, for JSON records. */
function snakeDiagnostics(diagnostics: Record<string, number>, prefix = ''): Record<string, number> {
  return Object.fromEntries(Object.entries(diagnostics).map(([key, value]) => [`${prefix}${snakeCase(key)}`, value]));
}

/** Every method's diagnostics by key, for their labels and formats. */
const DIAGNOSTICS = new Map<string, DiagnosticSpec>(Object.values(METHODS).flatMap((m) => m.diagnostics.map((d) => [d.key, d] as const)));

/** A step's JSON record (snake_case, as the scripts' other JSON lines). */
export function stepRecord(r: StepReport) {
  return {
    kind: 'step' as const,
    step: r.step,
    total_steps: r.totalSteps,
    loss: r.loss,
    method_loss: r.methodLoss,
    ...snakeDiagnostics(r.diagnostics),
    embedding_std: r.embeddingStd,
    lr: r.lr,
    finite: r.finite,
    images_per_sec: round(r.imagesPerSec, 2),
    step_ms: round(r.stepMs, 1),
    timings_ms: r.timings && {
      augment: round(r.timings.augmentMs, 1),
      forward_backward: round(r.timings.forwardBackwardMs, 1),
      // Absent from builds before the split had a gradient-norm phase (bench serves older builds too).
      grad_norm: r.timings.gradNormMs === undefined ? null : round(r.timings.gradNormMs, 1),
      update: round(r.timings.updateMs, 1),
    },
    tensors: r.memory.numTensors,
    gpu_bytes: r.memory.gpuBytes,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** A diagnostic as a step line shows it: `contrastive accuracy 21.9%`. */
function diagnosticText(key: string, value: number): string {
  const spec = DIAGNOSTICS.get(key);
  return `${(spec?.label ?? key).toLowerCase()} ${spec?.format === 'fraction' ? pct(value) : value.toFixed(4)}`;
}

/** Every diagnostic of a step, as step lines show them: `  contrastive accuracy 21.9%` (MoCo: positive accuracy, queue age). */
export function diagnosticsText(diagnostics: Record<string, number>): string {
  return Object.entries(diagnostics).map(([key, value]) => `  ${diagnosticText(key, value)}`).join('');
}

/** `step   12/50  loss 3.4121  contrastive accuracy 21.9%  12.3 images/s  2.61 s/step` */
export function stepLine(r: StepReport): string {
  const width = String(r.totalSteps).length;
  const diagnostics = diagnosticsText(r.diagnostics);
  return (
    `step ${String(r.step).padStart(width)}/${r.totalSteps}  loss ${r.loss.toFixed(4)}${diagnostics}  ` +
    `${r.imagesPerSec.toFixed(1)} images/s  ${(r.stepMs / 1000).toFixed(2)} s/step${r.finite ? '' : '  (loss not finite: update skipped)'}`
  );
}

export interface RunSummary {
  steps: number;
  final_loss: number;
  final_method_loss: number;
  /** The method's diagnostics at the last step, as final_<name> (SimCLR: final_contrastive_acc). */
  [finalDiagnostic: `final_${string}`]: number;
  final_embedding_std: number;
  /** Steps left out of the steady figures (the first ones, which compile and warm up). */
  warmup_steps: number;
  /** Steady steps the medians are taken over. */
  steady_steps: number;
  /** Median over the steady steps of each step's source images per second. */
  images_per_sec: number;
  step_ms_median: number;
  first_step_ms: number;
  /** Medians of the profiled split over the steady steps; null when the steps were not profiled. */
  augment_ms_median: number | null;
  forward_backward_ms_median: number | null;
  grad_norm_ms_median: number | null;
  update_ms_median: number | null;
  /** After the last warm-up step (the first step when there is none), and after the last step. */
  tensors_after_warmup: number;
  tensors_after_run: number;
  gpu_bytes_after_warmup: number | null;
  gpu_bytes_after_run: number | null;
  /** Tensor count and GPU bytes the same after warm-up and after the run: nothing leaks from step to step. */
  memory_flat: boolean;
}

/**
 * The run's figures from its step reports (in step order). Steady figures leave out the first `warmup` steps, unless
 * that leaves none, in which case every step counts.
 */
export function summariseSteps(reports: StepReport[], warmup: number): RunSummary {
  if (reports.length === 0) throw new Error('the run reported no step');
  const last = reports[reports.length - 1]!;
  const warm = Math.min(Math.max(0, warmup), reports.length - 1);
  const steady = reports.slice(warm);
  const split = (key: 'augmentMs' | 'forwardBackwardMs' | 'gradNormMs' | 'updateMs') => {
    const values = steady.map((r) => r.timings?.[key]).filter((v): v is number => v !== undefined);
    return values.length ? round(median(values), 1) : null;
  };
  const afterWarmup = reports[Math.max(0, warm - 1)]!;
  return {
    steps: last.step,
    final_loss: last.loss,
    final_method_loss: last.methodLoss,
    ...snakeDiagnostics(last.diagnostics, 'final_'),
    final_embedding_std: last.embeddingStd,
    warmup_steps: warm,
    steady_steps: steady.length,
    images_per_sec: round(median(steady.map((r) => r.imagesPerSec)), 2),
    step_ms_median: round(median(steady.map((r) => r.stepMs)), 1),
    first_step_ms: round(reports[0]!.stepMs, 1),
    augment_ms_median: split('augmentMs'),
    forward_backward_ms_median: split('forwardBackwardMs'),
    grad_norm_ms_median: split('gradNormMs'),
    update_ms_median: split('updateMs'),
    tensors_after_warmup: afterWarmup.memory.numTensors,
    tensors_after_run: last.memory.numTensors,
    gpu_bytes_after_warmup: afterWarmup.memory.gpuBytes,
    gpu_bytes_after_run: last.memory.gpuBytes,
    memory_flat: afterWarmup.memory.numTensors === last.memory.numTensors && afterWarmup.memory.gpuBytes === last.memory.gpuBytes,
  };
}

/** A step's FLOP/s from the model's FLOPs per step and a step time, and its share of a reference rate. */
export function achievedRate(info: Pick<RunInfo, 'flopsPerStep'>, stepMs: number, referenceFlopsPerSec: number | null) {
  const flopsPerSec = info.flopsPerStep / (stepMs / 1000);
  return { flopsPerSec, fraction: referenceFlopsPerSec && referenceFlopsPerSec > 0 ? flopsPerSec / referenceFlopsPerSec : null };
}
