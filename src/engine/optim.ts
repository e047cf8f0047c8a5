// Optimisers and the learning-rate schedule for SimCLR training.
// Written by hand rather than with tf.train.* because SimCLR needs decoupled weight decay with exclusions, LARS,
// a learning rate that changes every step, and optimiser state that can be saved in a checkpoint.
// Reads are asynchronous only (await t.data()): synchronous reads on WebGPU are slow or return zeros
// (../shared/docs/webgpu-notes.md).

import * as tf from '@tensorflow/tfjs';
import type { OptimConfig, OptimizerName } from './config';

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

export interface Optimizer {
  readonly name: OptimizerName;
  /** Apply one update. grads maps param name → gradient (same shape as its variable); params without a gradient are left alone. lr is this step's learning rate. Leaves no tensors behind (all temporaries disposed; state lives in tf.Variables). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void;
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
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;
// Trust coefficient η of LARS (You et al. 2017), the value google-research/simclr lars_optimizer.py uses.
const LARS_EETA = 0.001;

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
    slots: ['m', 'v'],
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
    slots: ['v'],
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
    slots: ['v'],
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
  const slotName = (param: string, slot: string) => `${rule.name}/${param}/${slot}`;
  const stepName = `${rule.name}/step`;
  let step = 0;
  let disposed = false;

  const assertLive = () => {
    if (disposed) throw new Error(`${rule.name} optimiser used after dispose()`);
  };

  return {
    name: rule.name,

    apply(grads, lr) {
      assertLive();
      if (!Number.isFinite(lr)) throw new Error(`${rule.name}: learning rate ${lr} is not finite`);
      // Validate everything before touching any variable, so a bad call leaves the state as it was.
      const work = Object.entries(grads).map(([name, grad]) => {
        const entry = byName.get(name);
        if (!entry) throw new Error(`${rule.name}: gradient for unknown parameter '${name}'`);
        if (!sameShape(grad.shape, entry.variable.shape)) {
          throw new Error(`${rule.name}: gradient for '${name}' has shape [${grad.shape}], parameter has [${entry.variable.shape}]`);
        }
        return { entry, grad };
      });
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

    async getState() {
      assertLive();
      // Snapshot synchronously (clones share data, no copy) so an apply() during the awaits cannot mix two steps.
      const snapshot = entries.flatMap((e) =>
        e.slots.map((slot, i) => ({ name: slotName(e.name, rule.slots[i]), tensor: tf.clone(slot) })),
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
        state.push({ name: stepName, shape: [], values: Float32Array.of(t) });
        return state;
      } finally {
        for (const s of snapshot) s.tensor.dispose();
      }
    },

    setState(state) {
      assertLive();
      const given = new Map(state.map((s) => [s.name, s]));
      const expected = new Set([stepName, ...entries.flatMap((e) => rule.slots.map((s) => slotName(e.name, s)))]);
      for (const name of given.keys()) {
        if (!expected.has(name)) throw new Error(`${rule.name}: unexpected state entry '${name}'`);
      }
      if (given.size !== state.length) throw new Error(`${rule.name}: duplicate state entries`);
      const lookup = (name: string, shape: number[]) => {
        const s = given.get(name);
        if (!s) throw new Error(`${rule.name}: state entry '${name}' missing`);
        const size = shape.reduce((a, d) => a * d, 1);
        if (!sameShape(s.shape, shape) || s.values.length !== size) {
          throw new Error(`${rule.name}: state entry '${name}' has shape [${s.shape}], expected [${shape}]`);
        }
        return s.values;
      };
      // Look everything up first so a mismatching checkpoint changes nothing.
      const restored = entries.flatMap((e) =>
        e.slots.map((slot, i) => ({ slot, values: lookup(slotName(e.name, rule.slots[i]), slot.shape) })),
      );
      const t = lookup(stepName, [])[0];
      if (!Number.isInteger(t) || t < 0) throw new Error(`${rule.name}: step counter ${t} is not a non-negative integer`);
      tf.tidy(() => {
        // Copy the values: the CPU backend would otherwise keep the caller's array as its storage.
        for (const { slot, values } of restored) slot.assign(tf.tensor(Float32Array.from(values), slot.shape));
      });
      step = t;
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      for (const e of entries) for (const slot of e.slots) slot.dispose();
      for (const c of rule.constants) c.dispose();
    },
  };
}

export function createOptimizer(params: TrainableParam[], config: OptimConfig): Optimizer {
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
