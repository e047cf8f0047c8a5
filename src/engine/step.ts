// One training step: two augmented views → the method's objective (encoder, heads, loss) → optimiser update → the
// method's after-update hook.
import * as tf from '@tensorflow/tfjs';
import { augmentViews, toUnitRange } from './augment';
import type { TrainConfig } from './config';
import { batchMeanEntropy } from './head';
import { methodOf } from './methods';
import { allWeights, createNetwork, disposeNetwork, trainableParams, type Network } from './model';
import { normalisedStd } from './normalize';
import { createOptimizer, learningRateAt, type Optimizer, type PreparedUpdate, type TrainableParam } from './optim';
import { Random } from './random';
import { withLeanSaves } from './tape';
import { withOnePixelDraws, withoutTexturePooling } from './webgl/onePixelDraws';
import { stackScalars } from './webgpu/programs';

export interface StepMetrics {
  /** The step just taken, counting from 1. */
  step: number;
  /** The training objective: the method's loss, minus λ·H when the entropy term is on. */
  loss: number;
  /** The method's loss alone (NT-Xent for SimCLR): what its reference levels and other implementations compare with. */
  methodLoss: number;
  /** The method's own diagnostics by key (SimCLR: contrastiveAcc), as its `diagnostics` list them. */
  diagnostics: Record<string, number>;
  /** Std over the batch of the L2-normalised projections, averaged over dimensions: ≈ 1/√d healthy, → 0 collapsed. */
  embeddingStd: number;
  /** Entropy of the batch-mean softmax of the entropy head; null when the term is off. */
  entropy: number | null;
  lr: number;
  /** False when the loss or the gradient norm was NaN or ±Inf: the update was not applied. */
  finite: boolean;
  /** Global L2 norm of the gradients over every trainable parameter (before the optimiser's own scaling). */
  gradNorm: number;
  /** True when the gradient norm was finite but above the step's `maxGradNorm`: the update was not applied. */
  exploding: boolean;
  /** Where the step's time went, when the step was profiled; null otherwise. */
  timings: StepTimings | null;
}

/** A profiled step's split, in milliseconds. Each phase ends with a one-element read, so the GPU has finished it. */
export interface StepTimings {
  augmentMs: number;
  forwardBackwardMs: number;
  /** The gradients' global norm and the read of the step's numbers. */
  gradNormMs: number;
  updateMs: number;
}

/**
 * Where a step is, for whoever watches it (the engine benchmark counts kernels and dispatches by phase): each phase
 * is announced as it starts to be recorded, 'wait' when the step first waits for the GPU (its read has handed the
 * commands recorded so far to the queue), 'end' when it returns.
 */
export type StepPhase = 'augment' | 'forwardBackward' | 'gradNorm' | 'wait' | 'update' | 'end';

export interface StepOptions {
  /**
   * Time the four phases. Costs three extra GPU round trips per step (a one-element read after augmentation, after
   * the gradients and after the update), so benchmarks use it and the page does not.
   */
  profile?: boolean;
  /**
   * Skip the update when the gradients' global norm exceeds this (exploding gradients); the metrics say so. The
   * caller sets it from the run's recent norms (`explodingLimit` in divergence.ts).
   */
  maxGradNorm?: number;
  /**
   * The two views to train on instead of augmenting `images` (float32 [N, S, S, C] in [0, 1]; the caller keeps
   * them): the step-level parity check feeds tabclr and the PyTorch reference the same views.
   */
  views?: [tf.Tensor4D, tf.Tensor4D];
  /** Called synchronously as each phase begins (see StepPhase); must not touch tensors. */
  onPhase?: (phase: StepPhase) => void;
  /**
   * Apply the update (and the method's after-update hook) whatever the loss and the gradient norm read: for a throwaway
   * step whose numbers are garbage by design (drawStepProgramsOnce), whose point is to run every program of a step.
   * The metrics still say what was read.
   */
  alwaysUpdate?: boolean;
}

/** Waits until the GPU has computed t, by reading one element of it. */
export async function settled(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => t.reshape([-1]).slice(0, 1));
  try {
    await one.data();
  } finally {
    one.dispose();
  }
}

export interface TrainState {
  readonly config: TrainConfig;
  readonly model: Network;
  readonly optimizer: Optimizer;
  readonly params: TrainableParam[];
  /** Steps taken so far. */
  step: number;
  /** Draws every augmentation parameter; seeded from the config, so a run is reproducible. */
  readonly rng: Random;
}

export function createTrainState(config: TrainConfig): TrainState {
  const model = createNetwork(config);
  const params = trainableParams(model);
  return { config, model, params, optimizer: createOptimizer(params, config.optim), step: 0, rng: new Random(config.seed ^ 0x5eed) };
}

export function disposeTrainState(state: TrainState): void {
  state.optimizer.dispose();
  disposeNetwork(state.model);
}

interface ObjectiveParts {
  objective: tf.Scalar;
  methodLoss: tf.Scalar;
  embeddingStd: tf.Scalar;
  entropy: tf.Scalar | null;
  diagnostics: Record<string, tf.Scalar>;
}

/**
 * The differentiable part: the method's objective on both views as one batch of 2N (view 1's images first), and the
 * extensions every method shares (the entropy term).
 */
function objective(model: Network, views: tf.Tensor4D, config: TrainConfig, step: number): ObjectiveParts {
  const { loss, projections, diagnostics } = model.method.objective({ encoder: model.encoder, views, step });
  const embeddingStd = normalisedStd(projections);
  let entropy: tf.Scalar | null = null;
  let total = loss;
  if (model.entropyHead) {
    entropy = batchMeanEntropy(model.entropyHead.apply(projections, { training: true }) as tf.Tensor2D);
    total = tf.sub(loss, tf.mul(entropy, config.model.entropyWeight));
  }
  return { objective: total, methodLoss: loss, embeddingStd, entropy, diagnostics };
}

/** Every tensor of an objective's diagnostics, to keep or dispose. */
function kept(parts: Omit<ObjectiveParts, 'objective'>): tf.Tensor[] {
  const { methodLoss, embeddingStd, entropy, diagnostics } = parts;
  return [methodLoss, embeddingStd, ...(entropy ? [entropy] : []), ...Object.values(diagnostics)];
}

/** Loss value and gradients by parameter name; the diagnostics are kept alive for the caller. */
function lossAndGrads(state: TrainState, views: tf.Tensor4D) {
  let diagnostics: Omit<ObjectiveParts, 'objective'> | null = null;
  const { value, grads } = withLeanSaves(() =>
    tf.variableGrads(() => {
      const { objective: total, ...rest } = objective(state.model, views, state.config, state.step + 1);
      diagnostics = rest;
      for (const t of kept(rest)) tf.keep(t);
      return total;
    }, state.params.map((p) => p.variable)),
  );
  const byName: Record<string, tf.Tensor> = {};
  for (const p of state.params) byName[p.name] = grads[p.variable.name]!;
  return { value, grads: byName, diagnostics: diagnostics! as Omit<ObjectiveParts, 'objective'> };
}

export { toUnitRange };

/**
 * One training step on a batch of source images (float32 [N, S, S, C] in [0, 1], or integers 0–255).
 * Augmentation runs first, outside the differentiated function (the views need no gradient). Results are read
 * with `await data()` only; a non-finite loss skips the update. Leaves no tensor behind.
 */
export async function trainStep(state: TrainState, images: tf.Tensor4D, options: StepOptions = {}): Promise<StepMetrics> {
  const { config } = state;
  if (images.shape[0] !== config.batchSize) throw new Error(`batch has ${images.shape[0]} images, the run uses ${config.batchSize}`);
  const lr = learningRateAt(state.step, config.optim);
  const profile = options.profile === true;
  const phase = options.onPhase ?? (() => {});
  const marks: number[] = [performance.now()];
  const diagnosticKeys = methodOf(config.method).diagnostics.map((d) => d.key);
  phase('augment');
  const views = options.views ? tf.concat(options.views, 0) : augmentViews(images, config.augment, state.rng);
  let computed: ReturnType<typeof lossAndGrads> | null = null;
  let update: PreparedUpdate | null = null;
  const scratch: tf.Tensor[] = [views];
  let values: Float32Array | Int32Array | Uint8Array;
  let finite: boolean;
  let exploding: boolean;
  // Every path, a thrown GPU error included, disposes what the step made: a failed step must not leak a model's
  // worth of gradients each time it is retried.
  try {
    if (profile) {
      await settled(views);
      marks.push(performance.now());
    }
    phase('forwardBackward');
    computed = lossAndGrads(state, views);
    if (profile) {
      await settled(computed.value);
      marks.push(performance.now());
    }
    phase('gradNorm');
    const { value, diagnostics } = computed;
    scratch.push(value, ...kept(diagnostics));
    // The gradients' norm now, the update after the read (when the norm says to apply it).
    update = state.optimizer.prepare(computed.grads);
    // One read-back for every number: the objective, the method's loss, the spread, the entropy, the gradient norm,
    // then the method's diagnostics in its order.
    const packed = stackScalars([
      value,
      diagnostics.methodLoss,
      diagnostics.embeddingStd,
      diagnostics.entropy ?? value,
      update.gradNorm,
      ...diagnosticKeys.map((key) => diagnostics.diagnostics[key]!),
    ]);
    scratch.push(packed);
    // The read hands the step's commands not yet submitted to the queue before it waits: recording ends after it.
    const read = packed.data();
    phase('wait');
    values = await read;
    if (profile) marks.push(performance.now());
    finite = Number.isFinite(values[0]!) && Number.isFinite(values[4]!);
    exploding = finite && options.maxGradNorm !== undefined && values[4]! > options.maxGradNorm;
    phase('update');
    if (options.alwaysUpdate === true || (finite && !exploding)) {
      update.apply(lr);
      state.model.method.afterUpdate?.(state.step + 1, config.optim.totalSteps);
    }
    if (profile) {
      await settled(state.params[0]!.variable);
      marks.push(performance.now());
    }
  } finally {
    tf.dispose(scratch);
    update?.dispose();
    if (computed) tf.dispose(Object.values(computed.grads));
  }
  phase('end');
  const [loss, methodLoss, embeddingStd, entropy, gradNorm] = values;
  state.step += 1;
  return {
    step: state.step,
    loss: loss!,
    methodLoss: methodLoss!,
    diagnostics: Object.fromEntries(diagnosticKeys.map((key, i) => [key, values[5 + i]!])),
    embeddingStd: embeddingStd!,
    entropy: state.model.entropyHead ? entropy! : null,
    lr,
    finite,
    gradNorm: gradNorm!,
    exploding,
    timings: profile
      ? { augmentMs: marks[1]! - marks[0]!, forwardBackwardMs: marks[2]! - marks[1]!, gradNormMs: marks[3]! - marks[2]!, updateMs: marks[4]! - marks[3]! }
      : null,
  };
}

/**
 * Loss and gradients for fixed views without updating anything: what a backend-agreement check compares.
 * Moving batch-norm statistics are restored afterwards, so the state is exactly as before.
 */
export async function probeGradients(state: TrainState, view1: tf.Tensor4D, view2: tf.Tensor4D): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  return withFrozenStatistics(state.model, async () => {
    const views = tf.concat([view1, view2], 0);
    const { value, grads, diagnostics } = lossAndGrads(state, views);
    views.dispose();
    const loss = (await value.data())[0]!;
    const arrays = new Map<string, Float32Array>();
    for (const [name, g] of Object.entries(grads)) arrays.set(name, (await g.data()) as Float32Array);
    tf.dispose([value, ...Object.values(grads), ...kept(diagnostics)]);
    return { loss, grads: arrays };
  });
}

/**
 * Runs fn and puts every non-trainable weight (batch-norm moving mean/variance, a method's buffers) back as it was: a
 * forward pass in training mode moves the statistics.
 */
export async function withFrozenStatistics<T>(model: Network, fn: () => Promise<T>): Promise<T> {
  const frozen = allWeights(model).filter(({ weight }) => !weight.trainable);
  const saved = frozen.map(({ weight }) => weight.read().clone());
  try {
    return await fn();
  } finally {
    frozen.forEach(({ weight }, i) => weight.write(saved[i]!));
    tf.dispose(saved);
  }
}

interface ParallelCompilingBackend {
  checkCompileCompletionAsync(): Promise<unknown>;
  /** WebGL: after parallel compilation, looks up the programs' uniforms (tfjs's documented last step). */
  getUniformLocations?(): void;
}

/**
 * Compiles the step's GPU pipelines in parallel before step 1 (tfjs's compile-only mode: WEBGPU_ENGINE_COMPILE_ONLY
 * on WebGPU, ENGINE_COMPILE_ONLY on WebGL, where it lets the driver compile shaders in parallel through
 * KHR_parallel_shader_compile), instead of one by one during it. On WebGL it then draws every program of a step once
 * at one pixel (drawStepProgramsOnce), for drivers that build a program's pipeline at its first draw. A no-op on the
 * CPU backend. Nothing else may use the backend until it resolves: the one-pixel pass leaves garbage in whatever
 * draws meanwhile.
 */
export async function compilePipelines(state: TrainState): Promise<boolean> {
  const name = tf.getBackend();
  const backend = tf.backend() as Partial<ParallelCompilingBackend>;
  if ((name !== 'webgpu' && name !== 'webgl') || typeof backend.checkCompileCompletionAsync !== 'function') return false;
  const flag = name === 'webgpu' ? 'WEBGPU_ENGINE_COMPILE_ONLY' : 'ENGINE_COMPILE_ONLY';
  // On WebGL, small ops may run on the CPU from their inputs' values, which compile-only mode never computes.
  const cpuForward = name === 'webgl' ? tf.env().getBool('WEBGL_CPU_FORWARD') : null;
  const { batchSize, model } = state.config;
  // Both views: 2N images.
  const shape: [number, number, number, number] = [2 * batchSize, model.imageSize, model.imageSize, model.channels];
  await withFrozenStatistics(state.model, async () => {
    // Made on the device (a fill program), not uploaded from the CPU: in compile-only mode tfjs's WebGL backend keeps an
    // upload's values on the CPU, a slice of the views (MoCo's per-view batch-norm groups) then inherits all of them,
    // and uploading that slice fails ("offset is out of bounds").
    const view = tf.fill(shape, 0, 'float32') as tf.Tensor4D;
    tf.env().set(flag, true);
    if (cpuForward !== null) tf.env().set('WEBGL_CPU_FORWARD', false);
    try {
      const { value, grads, diagnostics } = lossAndGrads(state, view);
      tf.dispose([value, ...Object.values(grads), ...kept(diagnostics)]);
    } finally {
      tf.env().set(flag, false);
      if (cpuForward !== null) tf.env().set('WEBGL_CPU_FORWARD', cpuForward);
      view.dispose();
    }
    await backend.checkCompileCompletionAsync!();
    backend.getUniformLocations?.();
  });
  if (name === 'webgl') await drawStepProgramsOnce(state);
  return true;
}

/**
 * One complete step (augmentation, forward, backward, gradient norm, update, the method's after-update hook, and the
 * uploads and reads around them) of a throwaway copy of the run, made from the same config, so at the same shapes
 * and with the same programs, on zero images, with every WebGL draw clamped to one pixel (withOnePixelDraws). ANGLE
 * on Vulkan, SwiftShader under it, builds and JIT-compiles a program's pipeline at its first draw, which the
 * compile-only pass never issues; this pass issues each draw once while shading a single fragment, so it costs the
 * compiling and almost none of a step's arithmetic. Its results are garbage (the loss read may be NaN from a pooled
 * texture's old contents), so its update is applied unconditionally and the copy is thrown away: `state`, its
 * weights, batch-norm statistics, optimiser slots, random generator and step, is not touched. On other backends the
 * clamp is a no-op and the pass is an ordinary step of the copy.
 */
export async function drawStepProgramsOnce(state: TrainState): Promise<void> {
  const { config } = state;
  const { imageSize: s, channels: c } = config.model;
  const throwaway = createTrainState(config);
  // The dtype the worker's batches have (gatherBatch): the same upload and conversion programs.
  const images = tf.zeros([config.batchSize, s, s, c], 'int32') as tf.Tensor4D;
  try {
    await withOnePixelDraws(() => trainStep(throwaway, images, { alwaysUpdate: true }));
  } finally {
    images.dispose();
    // Its last weights and optimiser slots are deleted, not pooled: the run's own steps pool what they need.
    withoutTexturePooling(() => disposeTrainState(throwaway));
  }
}
