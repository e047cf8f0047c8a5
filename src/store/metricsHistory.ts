// Every step's metrics of the current run, kept out of React: growable typed-array columns that the charts read
// through subscribe() (the zustand "transient updates" pattern, ../shared/docs/style.md). A push costs O(1)
// amortised; columns() hands out views, never copies.
import type { RecordedStep } from '../worker/protocol';

/** Weight of the newest point in the smoothed loss (TensorBoard's smoothing slider at 0.95). */
export const SMOOTHING_ALPHA = 0.05;

const INITIAL_CAPACITY = 1024;

/** One value per recorded step, index i for the i-th report of the run; views valid until the next push. */
export interface MetricsColumns {
  /** Number of recorded steps (the length of every column). */
  length: number;
  step: Float64Array;
  /** The training objective as reported (NaN or ±Inf when the step diverged). */
  loss: Float64Array;
  /** The method's loss alone (equals loss unless the entropy term is on); the value its reference levels compare with. */
  methodLoss: Float64Array;
  /** Debiased EMA of loss; a non-finite loss is skipped, the previous smoothed value carried over. */
  lossSmoothed: Float64Array;
  /** The same smoothing of methodLoss. */
  methodLossSmoothed: Float64Array;
  /** The method's own diagnostics (SimCLR: contrastiveAcc), one column per key the run reports. */
  diagnostics: Record<string, Float64Array>;
  embeddingStd: Float64Array;
  lr: Float64Array;
  /** Global L2 norm of the gradients (NaN for steps recorded before it was, in older checkpoints). */
  gradNorm: Float64Array;
  imagesPerSec: Float64Array;
  stepMs: Float64Array;
  /** 1 when the step's loss was finite (the update was applied), 0 when it was NaN or ±Inf. */
  finite: Uint8Array;
}

export interface KnnColumns {
  length: number;
  step: Float64Array;
  /** kNN accuracy in [0, 1] on the held-out queries. */
  accuracy: Float64Array;
  /** The linear probe's accuracy on the same queries; NaN where it was not measured (runs saved before it was). */
  probe: Float64Array;
}

/** kNN accuracy of the references a trained encoder must beat (../shared/docs/simclr-recipe.md: always show them). */
export interface KnnBaselines {
  /** The same encoder at its random initialisation. */
  randomInit: number | null;
  /** Raw pixels as the representation. */
  rawPixels: number | null;
  /** The linear probe's accuracy on the same two representations. */
  probeRandomInit: number | null;
  probeRawPixels: number | null;
}

export type HistoryListener = () => void;

type FloatColumn = Exclude<keyof MetricsColumns, 'length' | 'finite' | 'diagnostics'>;
const FLOAT_COLUMNS: readonly FloatColumn[] = [
  'step',
  'loss',
  'methodLoss',
  'lossSmoothed',
  'methodLossSmoothed',
  'embeddingStd',
  'lr',
  'gradNorm',
  'imagesPerSec',
  'stepMs',
];

function grown<T extends Float64Array | Uint8Array>(column: T, capacity: number): T {
  const next = new (column.constructor as new (n: number) => T)(capacity);
  next.set(column);
  return next;
}

/**
 * Bias-corrected exponential moving average (TensorBoard's smoothing): the running sum starts at 0, so dividing by
 * 1 − (1 − α)^k, k the number of finite values so far, makes the first smoothed value equal the first value.
 */
export class DebiasedEma {
  private sum = 0;
  private count = 0;
  private current = NaN;
  constructor(readonly alpha: number) {}

  /** Adds a value and returns the smoothed value; a non-finite value leaves the average as it was. */
  add(value: number): number {
    if (Number.isFinite(value)) {
      this.sum = this.sum * (1 - this.alpha) + this.alpha * value;
      this.count += 1;
      this.current = this.sum / (1 - Math.pow(1 - this.alpha, this.count));
    }
    return this.current;
  }

  reset(): void {
    this.sum = 0;
    this.count = 0;
    this.current = NaN;
  }
}

export class MetricsHistory {
  private capacity = INITIAL_CAPACITY;
  private size = 0;
  private data: Record<FloatColumn, Float64Array> = MetricsHistory.allocate(INITIAL_CAPACITY);
  private finiteFlags = new Uint8Array(INITIAL_CAPACITY);
  /** The run's diagnostics columns, by key, in the order its first report listed them. */
  private diagnostics = new Map<string, Float64Array>();
  private readonly lossEma = new DebiasedEma(SMOOTHING_ALPHA);
  private readonly methodLossEma = new DebiasedEma(SMOOTHING_ALPHA);
  private knnCapacity = 64;
  private knnSize = 0;
  private knnStep = new Float64Array(64);
  private knnAccuracy = new Float64Array(64);
  private knnProbe = new Float64Array(64);
  private entropySeen = false;
  private lastTotalSteps = 0;
  private readonly listeners = new Set<HistoryListener>();
  private revision = 0;

  baselines: KnnBaselines = { randomInit: null, rawPixels: null, probeRandomInit: null, probeRawPixels: null };

  private static allocate(capacity: number): Record<FloatColumn, Float64Array> {
    const data = {} as Record<FloatColumn, Float64Array>;
    for (const name of FLOAT_COLUMNS) data[name] = new Float64Array(capacity);
    return data;
  }

  /** Number of recorded steps. */
  get length(): number {
    return this.size;
  }

  /** Bumped on every change; lets a reader skip work when nothing happened since it last looked. */
  get version(): number {
    return this.revision;
  }

  /** The run length the latest report announced (0 before the first). */
  get totalSteps(): number {
    return this.lastTotalSteps;
  }

  /** True once a report carried an entropy value, i.e. loss and methodLoss differ. */
  get hasEntropyTerm(): boolean {
    return this.entropySeen;
  }

  /** The last step recorded, or null when empty. */
  get lastStep(): number | null {
    return this.size ? this.data.step[this.size - 1]! : null;
  }

  /**
   * Records one step and notifies listeners. A report whose step is not after the last one starts a new run:
   * the step and kNN history is cleared first, so the step axis always increases (baselines are kept).
   */
  push(report: RecordedStep): void {
    this.append(report);
    this.notify();
  }

  /** Records many steps (a frame's worth of worker messages) with one notification. */
  pushMany(reports: Iterable<RecordedStep>): void {
    let any = false;
    for (const report of reports) {
      this.append(report);
      any = true;
    }
    if (any) this.notify();
  }

  /** Forgets the run's steps and kNN points; the baselines belong to the data set and stay. */
  clear(): void {
    this.reset();
    this.notify();
  }

  /** Views of the recorded values, up to length: no copy; do not keep them across pushes. */
  columns(): MetricsColumns {
    const n = this.size;
    const d = this.data;
    return {
      length: n,
      step: d.step.subarray(0, n),
      loss: d.loss.subarray(0, n),
      methodLoss: d.methodLoss.subarray(0, n),
      lossSmoothed: d.lossSmoothed.subarray(0, n),
      methodLossSmoothed: d.methodLossSmoothed.subarray(0, n),
      diagnostics: Object.fromEntries([...this.diagnostics].map(([key, column]) => [key, column.subarray(0, n)])),
      embeddingStd: d.embeddingStd.subarray(0, n),
      lr: d.lr.subarray(0, n),
      gradNorm: d.gradNorm.subarray(0, n),
      imagesPerSec: d.imagesPerSec.subarray(0, n),
      stepMs: d.stepMs.subarray(0, n),
      finite: this.finiteFlags.subarray(0, n),
    };
  }

  /**
   * Records an evaluation made after `step`: kNN accuracy and the linear probe's (in [0, 1]; NaN when not measured).
   * Points are kept in step order, since the untrained encoder's (step 0) can arrive after the first steps' ones.
   */
  pushKnn(step: number, accuracy: number, probe = NaN): void {
    if (this.knnSize === this.knnCapacity) {
      this.knnCapacity *= 2;
      this.knnStep = grown(this.knnStep, this.knnCapacity);
      this.knnAccuracy = grown(this.knnAccuracy, this.knnCapacity);
      this.knnProbe = grown(this.knnProbe, this.knnCapacity);
    }
    let at = this.knnSize;
    while (at > 0 && this.knnStep[at - 1]! > step) at -= 1;
    this.knnStep.copyWithin(at + 1, at, this.knnSize);
    this.knnAccuracy.copyWithin(at + 1, at, this.knnSize);
    this.knnProbe.copyWithin(at + 1, at, this.knnSize);
    this.knnStep[at] = step;
    this.knnAccuracy[at] = accuracy;
    this.knnProbe[at] = probe;
    this.knnSize += 1;
    this.notify();
  }

  knnColumns(): KnnColumns {
    const n = this.knnSize;
    return { length: n, step: this.knnStep.subarray(0, n), accuracy: this.knnAccuracy.subarray(0, n), probe: this.knnProbe.subarray(0, n) };
  }

  /** Sets either or both baselines; pass null to forget one (e.g. a new data set). */
  setBaselines(baselines: Partial<KnnBaselines>): void {
    this.baselines = { ...this.baselines, ...baselines };
    this.notify();
  }

  /** Calls listener after every push, pushMany, pushKnn, setBaselines or clear; returns the unsubscribe. */
  subscribe(listener: HistoryListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private append(report: RecordedStep): void {
    if (this.size > 0 && !(report.step > this.data.step[this.size - 1]!)) this.reset();
    if (this.size === this.capacity) this.grow();
    const i = this.size;
    const d = this.data;
    d.step[i] = report.step;
    d.loss[i] = report.loss;
    d.methodLoss[i] = report.methodLoss;
    d.lossSmoothed[i] = this.lossEma.add(report.loss);
    d.methodLossSmoothed[i] = this.methodLossEma.add(report.methodLoss);
    for (const [key, value] of Object.entries(report.diagnostics)) {
      let column = this.diagnostics.get(key);
      if (!column) {
        // A key first seen now: NaN for the steps before it.
        column = new Float64Array(this.capacity).fill(NaN);
        this.diagnostics.set(key, column);
      }
      column[i] = value;
    }
    for (const [key, column] of this.diagnostics) if (!(key in report.diagnostics)) column[i] = NaN;
    d.embeddingStd[i] = report.embeddingStd;
    d.lr[i] = report.lr;
    d.gradNorm[i] = report.gradNorm ?? NaN;
    d.imagesPerSec[i] = report.imagesPerSec;
    d.stepMs[i] = report.stepMs;
    this.finiteFlags[i] = report.finite && Number.isFinite(report.loss) ? 1 : 0;
    if (report.entropy !== null) this.entropySeen = true;
    this.lastTotalSteps = report.totalSteps;
    this.size += 1;
  }

  private grow(): void {
    this.capacity *= 2;
    for (const name of FLOAT_COLUMNS) this.data[name] = grown(this.data[name], this.capacity);
    for (const [key, column] of this.diagnostics) this.diagnostics.set(key, grown(column, this.capacity));
    this.finiteFlags = grown(this.finiteFlags, this.capacity);
  }

  private reset(): void {
    // Keep the grown buffers: the next run is likely as long as this one.
    this.size = 0;
    this.knnSize = 0;
    this.lossEma.reset();
    this.methodLossEma.reset();
    // Another run may be another method, with other diagnostics.
    this.diagnostics.clear();
    this.entropySeen = false;
    this.lastTotalSteps = 0;
  }

  private notify(): void {
    this.revision += 1;
    for (const listener of [...this.listeners]) listener();
  }
}

/** The page's one history; the worker connection pushes into it, charts and the health check read it. */
export const metricsHistory = new MetricsHistory();

/**
 * Seconds left until `totalSteps`, from the median step time of the last 20 steps (a median ignores the slow
 * first step that compiles pipelines). Null when there is nothing to estimate from.
 */
export function etaSeconds(history: MetricsHistory, totalSteps: number): number | null {
  const n = history.length;
  if (n === 0) return null;
  const { step, stepMs } = history.columns();
  const remaining = Math.max(0, totalSteps - step[n - 1]!);
  if (remaining === 0) return 0;
  const recent: number[] = [];
  for (let i = Math.max(0, n - 20); i < n; i++) {
    const ms = stepMs[i]!;
    if (Number.isFinite(ms) && ms > 0) recent.push(ms);
  }
  if (recent.length === 0) return null;
  recent.sort((a, b) => a - b);
  const mid = recent.length >> 1;
  const median = recent.length % 2 ? recent[mid]! : (recent[mid - 1]! + recent[mid]!) / 2;
  return (remaining * median) / 1000;
}

type FrameScheduler = (callback: () => void) => () => void;

const animationFrame: FrameScheduler = (callback) => {
  if (typeof requestAnimationFrame === 'function') {
    const id = requestAnimationFrame(() => callback());
    return () => cancelAnimationFrame(id);
  }
  const id = setTimeout(callback, 16);
  return () => clearTimeout(id);
};

/**
 * Subscribes with at most one call per animation frame, however many pushes arrive in it (the style guide's
 * "at most one update per frame"). Returns the unsubscribe, which also cancels a pending call.
 */
export function subscribePerFrame(history: MetricsHistory, listener: HistoryListener, schedule: FrameScheduler = animationFrame): () => void {
  let cancel: (() => void) | null = null;
  const unsubscribe = history.subscribe(() => {
    if (cancel) return;
    cancel = schedule(() => {
      cancel = null;
      listener();
    });
  });
  return () => {
    unsubscribe();
    cancel?.();
    cancel = null;
  };
}
