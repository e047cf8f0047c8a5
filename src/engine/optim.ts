// Optimisers and the learning-rate schedule for SimCLR training.
// Written by hand rather than with tf.train.* because SimCLR needs decoupled weight decay with exclusions, LARS,
// a learning rate that changes every step, and optimiser state that can be saved in a checkpoint.
// Reads are asynchronous only (await t.data()): synchronous reads on WebGPU are slow or return zeros
// (../shared/docs/webgpu-notes.md).

import * as tf from '@tensorflow/tfjs';
import type { OptimConfig, OptimizerName } from './config';
import { createPackedOptimizer } from './webgpu/packedOptimizer';

export interface TrainableParam {
  name: string;
  variable: tf.Variable;
}

export interface StateTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

// google-research/simclr lars_optimizer.py excludes 'batch_normalization' and 'bias'; the other patterns cover the
// names our own layers and tfjs-layers give BN parameters ('<block>_bn/gamma', 'batch_normalization_1/beta').
const EXCLUDED_PARTS = ['batch_normalization', '/bn', 'bn_', '_bn', 'gamma', 'beta', 'moving_'];

/** BN parameters and biases get no weight decay and no LARS adaptation (google-research/simclr lars_optimizer.py excludes 'batch_normalization' and 'bias'). Decide from the name: a name containing 'batch_normalization', '/bn', 'bn_' or '_bn', 'gamma', 'beta', 'moving_', or ending in 'bias' is excluded. Case-insensitive. */
export function isExcludedFromDecay(name: string): boolean {
  const n = name.toLowerCase();
  return n.endsWith('bias') || EXCLUDED_PARTS.some((part) => n.includes(part));
}

/**
 * Linear warm-up from ~0 to base over warmupSteps, then cosine decay to 0 at totalSteps (SimCLR). step counts from 0:
 * lr(0) = base * 1 / warmupSteps when warmupSteps > 0, lr(warmupSteps) = base. From totalSteps on it stays 0.
 * warmupSteps 0 → cosine from the first step.
 */
export function learningRateAt(
  step: number,
  config: Pick<OptimConfig, 'learningRate' | 'warmupSteps' | 'totalSteps'>,
): number {
  const { learningRate: base, warmupSteps, totalSteps } = config;
  const s = Math.max(0, step);
  if (s >= totalSteps) return 0;
  // (s + 1) rather than the reference's s: the first update should not be wasted at lr 0.
  if (s < warmupSteps) return (base * (s + 1)) / warmupSteps;
  // Here warmupSteps <= s < totalSteps, so the denominator is positive.
  const progress = (s - warmupSteps) / (totalSteps - warmupSteps);
  return base * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** An update made ready from one step's gradients: their norm first, then the update itself if the step keeps it. */
export interface PreparedUpdate {
  /** √Σ‖g‖² over every gradient given, before the optimiser's own scaling. Owned by the prepared update. */
  readonly gradNorm: tf.Scalar;
  /** Applies the update with this step's learning rate; at most once. */
  apply(lr: number): void;
  /** Frees what prepare() made (the gradient norm included); the gradients stay the caller's. */
  dispose(): void;
}

export interface Optimizer {
  readonly name: OptimizerName;
  /** Apply one update. grads maps param name → gradient (same shape as its variable); params without a gradient are left alone. lr is this step's learning rate. Leaves no tensors behind (all temporaries disposed; state lives in tf.Variables). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void;
  /**
   * The gradients' global norm now and the update later, so that a step can read the norm (and skip the update)
   * before anything changes; the fused WebGPU optimiser computes both from one packing of the gradients.
   * Validates like apply().
   */
  prepare(grads: Record<string, tf.Tensor>): PreparedUpdate;
  /** Optimiser state for checkpoints: named tensors (copies owned by the caller), e.g. 'adam/<param>/m'. Includes the step counter as a scalar. */
  getState(): Promise<StateTensor[]>;
  setState(state: StateTensor[]): void;
  dispose(): void;
}

/**
 * One update rule. The driver (buildOptimizer) owns the slot variables, the step counter, validation, tidying and
 * checkpoint state; a rule only says which slots it keeps per parameter and how one parameter is updated.
 */
interface UpdateRule<Ctx> {
  readonly name: OptimizerName;
  /** Per-parameter state, each shaped like the parameter and initialised to zero. */
  readonly slots: readonly string[];
  /** Scalars uploaded once at construction; disposed with the optimiser. */
  readonly constants: tf.Tensor[];
  /** Per-step scalars, built once per apply inside its tidy (so they are freed when the step ends). t counts from 1. */
  prepare(lr: tf.Scalar, t: number): Ctx;
  /** New parameter and slot values. `excluded`: BN parameter or bias (no decay, no LARS adaptation). */
  update(p: tf.Tensor, g: tf.Tensor, slots: tf.Tensor[], ctx: Ctx, excluded: boolean): { param: tf.Tensor; slots: tf.Tensor[] };
}

interface StepCtx {
  lr: tf.Scalar;
}

/** Constants live for the optimiser's lifetime, even if it is created inside someone's tf.tidy. */
function keptScalar(value: number): tf.Scalar {
  return tf.keep(tf.scalar(value));
}

// Kingma & Ba 2015 defaults, the same as torch.optim.AdamW.
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = 1e-8;
// Trust coefficient η of LARS (You et al. 2017), the value google-research/simclr lars_optimizer.py uses.
export const LARS_EETA = 0.001;

/** The per-parameter state each optimiser keeps, by the name its checkpoint entries carry. */
export const OPTIMIZER_SLOTS: Record<OptimizerName, readonly string[]> = { adam: ['m', 'v'], sgd: ['v'], lars: ['v'] };

/** Checkpoint entry names: '<optimiser>/<param>/<slot>' and '<optimiser>/step'. */
export const slotStateName = (optimizer: OptimizerName, param: string, slot: string) => `${optimizer}/${param}/${slot}`;
export const stepStateName = (optimizer: OptimizerName) => `${optimizer}/step`;

/**
 * √Σ‖g‖² over all the gradients: the norm that gradient clipping and divergence checks look at. The squares are
 * summed two at a time: one addN over every parameter would bind more storage buffers than a WebGPU shader stage has
 * (8 by default), and its pipeline would fail, leaving zeros.
 */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(grads.map((g) => tf.sum(tf.square(g))).reduce((total, s) => tf.add(total, s))) as tf.Scalar);
}

/** The gradients matched to their parameters, or the first thing wrong (unknown name, wrong shape); changes nothing. */
export function matchGradients<E extends { variable: tf.Variable }>(
  optimizer: OptimizerName,
  grads: Record<string, tf.Tensor>,
  byName: Map<string, E>,
): { entry: E; grad: tf.Tensor }[] {
  return Object.entries(grads).map(([name, grad]) => {
    const entry = byName.get(name);
    if (!entry) throw new Error(`${optimizer}: gradient for unknown parameter '${name}'`);
    if (!sameShape(grad.shape, entry.variable.shape)) {
      throw new Error(`${optimizer}: gradient for '${name}' has shape [${grad.shape}], parameter has [${entry.variable.shape}]`);
    }
    return { entry, grad };
  });
}

/**
 * Reads a checkpoint's optimiser state: the values of every slot of every parameter (in `params` order, slots in
 * OPTIMIZER_SLOTS order) and the step counter, or throws saying what does not fit; changes nothing.
 */
export function readOptimizerState(
  optimizer: OptimizerName,
  params: { name: string; shape: number[] }[],
  state: StateTensor[],
): { slots: Float32Array[][]; step: number } {
  const slotNames = OPTIMIZER_SLOTS[optimizer];
  const given = new Map(state.map((s) => [s.name, s]));
  const expected = new Set([stepStateName(optimizer), ...params.flatMap((p) => slotNames.map((s) => slotStateName(optimizer, p.name, s)))]);
  for (const name of given.keys()) {
    if (!expected.has(name)) throw new Error(`${optimizer}: unexpected state entry '${name}'`);
  }
  if (given.size !== state.length) throw new Error(`${optimizer}: duplicate state entries`);
  const lookup = (name: string, shape: number[]) => {
    const s = given.get(name);
    if (!s) throw new Error(`${optimizer}: state entry '${name}' missing`);
    const size = shape.reduce((a, d) => a * d, 1);
    if (!sameShape(s.shape, shape) || s.values.length !== size) {
      throw new Error(`${optimizer}: state entry '${name}' has shape [${s.shape}], expected [${shape}]`);
    }
    return s.values;
  };
  const slots = params.map((p) => slotNames.map((s) => lookup(slotStateName(optimizer, p.name, s), p.shape)));
  const step = lookup(stepStateName(optimizer), [])[0]!;
  if (!Number.isInteger(step) || step < 0) throw new Error(`${optimizer}: step counter ${step} is not a non-negative integer`);
  return { slots, step };
}

/** AdamW (Loshchilov & Hutter 2019): the decay is applied to the weights, not folded into Adam's moments. */
function adamRule(weightDecay: number): UpdateRule<StepCtx & { bc1: tf.Scalar; bc2: tf.Scalar }> {
  const b1 = keptScalar(ADAM_BETA1);
  const oneMinusB1 = keptScalar(1 - ADAM_BETA1);
  const b2 = keptScalar(ADAM_BETA2);
  const oneMinusB2 = keptScalar(1 - ADAM_BETA2);
  const eps = keptScalar(ADAM_EPSILON);
  const wd = keptScalar(weightDecay);
  return {
    name: 'adam',
    slots: OPTIMIZER_SLOTS.adam,
    constants: [b1, oneMinusB1, b2, oneMinusB2, eps, wd],
    // Bias corrections are plain numbers per step: computing them on the host avoids a device-side step counter.
    prepare: (lr, t) => ({ lr, bc1: tf.scalar(1 - ADAM_BETA1 ** t), bc2: tf.scalar(1 - ADAM_BETA2 ** t) }),
    update(p, g, [m, v], { lr, bc1, bc2 }, excluded) {
      const m1 = tf.add(tf.mul(b1, m), tf.mul(oneMinusB1, g));
      const v1 = tf.add(tf.mul(b2, v), tf.mul(oneMinusB2, tf.square(g)));
      let step = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), eps));
      if (!excluded && weightDecay > 0) step = tf.add(step, tf.mul(wd, p));
      return { param: tf.sub(p, tf.mul(lr, step)), slots: [m1, v1] };
    },
  };
}

/** Momentum SGD in PyTorch's convention (lr outside the velocity), L2 decay added to the gradient. */
function sgdRule(momentum: number, weightDecay: number): UpdateRule<StepCtx> {
  const mu = keptScalar(momentum);
  const wd = keptScalar(weightDecay);
  return {
    name: 'sgd',
    slots: OPTIMIZER_SLOTS.sgd,
    constants: [mu, wd],
    prepare: (lr) => ({ lr }),
    update(p, g, [v], { lr }, excluded) {
      const grad = !excluded && weightDecay > 0 ? tf.add(g, tf.mul(wd, p)) : g;
      const v1 = tf.add(tf.mul(mu, v), grad);
      return { param: tf.sub(p, tf.mul(lr, v1)), slots: [v1] };
    },
  };
}

/** LARS exactly as google-research/simclr lars_optimizer.py (classic momentum, no Nesterov): lr inside the velocity. */
function larsRule(momentum: number, weightDecay: number): UpdateRule<StepCtx> {
  const mu = keptScalar(momentum);
  const wd = keptScalar(weightDecay);
  const eeta = keptScalar(LARS_EETA);
  return {
    name: 'lars',
    slots: OPTIMIZER_SLOTS.lars,
    constants: [mu, wd, eeta],
    prepare: (lr) => ({ lr }),
    update(p, g, [v], { lr }, excluded) {
      let scaledLr: tf.Tensor = lr;
      let grad = g;
      if (!excluded) {
        if (weightDecay > 0) grad = tf.add(g, tf.mul(wd, p));
        const wNorm = tf.norm(p);
        const gNorm = tf.norm(grad);
        // The reference falls back to a ratio of 1 when either norm is 0 (fresh zero-initialised or dead parameters).
        const bothPositive = tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0));
        const ratio = tf.where(bothPositive, tf.div(tf.mul(eeta, wNorm), gNorm), tf.onesLike(wNorm));
        scaledLr = tf.mul(lr, ratio);
      }
      const v1 = tf.add(tf.mul(mu, v), tf.mul(scaledLr, grad));
      return { param: tf.sub(p, v1), slots: [v1] };
    },
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function buildOptimizer<Ctx>(params: TrainableParam[], rule: UpdateRule<Ctx>): Optimizer {
  if (new Set(params.map((p) => p.name)).size !== params.length) {
    for (const c of rule.constants) c.dispose();
    throw new Error(`${rule.name}: duplicate parameter names`);
  }
  const entries = params.map(({ name, variable }) => ({
    name,
    variable,
    excluded: isExcludedFromDecay(name),
    // Unnamed: variable names are global in the tfjs engine, and two optimisers over the same model must coexist.
    slots: rule.slots.map(() => tf.tidy(() => tf.variable(tf.zerosLike(variable), false))),
  }));
  const byName = new Map(entries.map((e) => [e.name, e]));
  let step = 0;
  let disposed = false;

  const assertLive = () => {
    if (disposed) throw new Error(`${rule.name} optimiser used after dispose()`);
  };

  const optimizer: Optimizer = {
    name: rule.name,

    apply(grads, lr) {
      assertLive();
      if (!Number.isFinite(lr)) throw new Error(`${rule.name}: learning rate ${lr} is not finite`);
      // Validate everything before touching any variable, so a bad call leaves the state as it was.
      const work = matchGradients(rule.name, grads, byName);
      step += 1;
      const t = step;
      tf.tidy(() => {
        const ctx = rule.prepare(tf.scalar(lr), t);
        for (const { entry, grad } of work) {
          // A tidy per parameter frees its temporaries before the next one: lower peak memory on large models.
          tf.tidy(() => {
            const next = rule.update(entry.variable, grad, entry.slots, ctx, entry.excluded);
            entry.variable.assign(next.param);
            entry.slots.forEach((slot, i) => slot.assign(next.slots[i]));
          });
        }
      });
    },

    prepare(grads) {
      assertLive();
      matchGradients(rule.name, grads, byName);
      const gradNorm = globalNorm(Object.values(grads));
      let applied = false;
      return {
        gradNorm,
        apply(lr) {
          if (applied) throw new Error(`${rule.name}: a prepared update is applied once`);
          applied = true;
          optimizer.apply(grads, lr);
        },
        dispose: () => gradNorm.dispose(),
      };
    },

    async getState() {
      assertLive();
      // Snapshot synchronously (clones share data, no copy) so an apply() during the awaits cannot mix two steps.
      const snapshot = entries.flatMap((e) =>
        e.slots.map((slot, i) => ({ name: slotStateName(rule.name, e.name, rule.slots[i]!), tensor: tf.clone(slot) })),
      );
      const t = step;
      try {
        const data = await Promise.all(snapshot.map((s) => s.tensor.data()));
        const state: StateTensor[] = snapshot.map((s, i) => ({
          name: s.name,
          shape: s.tensor.shape.slice(),
          // Copy: the CPU backend hands out its own storage.
          values: new Float32Array(data[i]),
        }));
        state.push({ name: stepStateName(rule.name), shape: [], values: Float32Array.of(t) });
        return state;
      } finally {
        for (const s of snapshot) s.tensor.dispose();
      }
    },

    setState(state) {
      assertLive();
      // Look everything up first so a mismatching checkpoint changes nothing.
      const read = readOptimizerState(rule.name, entries.map((e) => ({ name: e.name, shape: e.variable.shape })), state);
      tf.tidy(() => {
        // Copy the values: the CPU backend would otherwise keep the caller's array as its storage.
        entries.forEach((e, k) => e.slots.forEach((slot, i) => slot.assign(tf.tensor(Float32Array.from(read.slots[k]![i]!), slot.shape))));
      });
      step = read.step;
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      for (const e of entries) for (const slot of e.slots) slot.dispose();
      for (const c of rule.constants) c.dispose();
    },
  };
  return optimizer;
}

/**
 * The optimiser for these parameters. On the WebGPU backend (unless TABCLR_FUSED_KERNELS is off) every parameter is
 * updated by one fused program over all of them (webgpu/packedOptimizer.ts); elsewhere one tidy of tfjs ops per
 * parameter. Both compute the same update and keep the same checkpoint state.
 */
export function createOptimizer(params: TrainableParam[], config: OptimConfig): Optimizer {
  const packed = createPackedOptimizer(params, config);
  if (packed) return packed;
  switch (config.optimizer) {
    case 'adam':
      return buildOptimizer(params, adamRule(config.weightDecay));
    case 'sgd':
      return buildOptimizer(params, sgdRule(config.momentum, config.weightDecay));
    case 'lars':
      return buildOptimizer(params, larsRule(config.momentum, config.weightDecay));
    default: {
      const unknown: never = config.optimizer;
      throw new Error(`unknown optimizer '${String(unknown)}'`);
    }
  }
}
