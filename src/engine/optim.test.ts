import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { OptimConfig, OptimizerName } from './config';
import { createOptimizer, isExcludedFromDecay, learningRateAt, type Optimizer, type TrainableParam } from './optim';

const ALL: OptimizerName[] = ['adam', 'sgd', 'lars'];

function config(optimizer: OptimizerName, overrides: Partial<OptimConfig> = {}): OptimConfig {
  return { optimizer, learningRate: 0.1, momentum: 0.9, weightDecay: 0, warmupSteps: 0, totalSteps: 100, ...overrides };
}

function param(name: string, values: number[]): TrainableParam {
  return { name, variable: tf.tidy(() => tf.variable(tf.tensor1d(values))) };
}

/** Applies one step with plain-array gradients and disposes them. */
function step(opt: Optimizer, grads: Record<string, number[]>, lr: number): void {
  const tensors = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.tensor1d(g)]));
  try {
    opt.apply(tensors, lr);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

function values(p: TrainableParam): number[] {
  return Array.from(p.variable.dataSync());
}

function expectClose(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i]))));
}

function disposeAll(opt: Optimizer, params: TrainableParam[]): void {
  opt.dispose();
  for (const p of params) p.variable.dispose();
}

describe('learningRateAt', () => {
  const cfg = { learningRate: 0.8, warmupSteps: 10, totalSteps: 110 };

  it('warms up linearly from base/warmupSteps and peaks at warmupSteps', () => {
    expect(learningRateAt(0, cfg)).toBeCloseTo(0.08, 12);
    for (let s = 0; s < 10; s++) expect(learningRateAt(s, cfg)).toBeCloseTo((0.8 * (s + 1)) / 10, 12);
    expect(learningRateAt(10, cfg)).toBeCloseTo(0.8, 12);
  });

  it('decays by cosine: base/2 halfway, 0 at totalSteps and after, monotone in between', () => {
    expect(learningRateAt(60, cfg)).toBeCloseTo(0.4, 12);
    expect(learningRateAt(110, cfg)).toBe(0);
    expect(learningRateAt(500, cfg)).toBe(0);
    for (let s = 10; s < 110; s++) expect(learningRateAt(s + 1, cfg)).toBeLessThan(learningRateAt(s, cfg));
  });

  it('starts the cosine at the first step without warm-up', () => {
    const noWarmup = { learningRate: 1, warmupSteps: 0, totalSteps: 100 };
    expect(learningRateAt(0, noWarmup)).toBe(1);
    expect(learningRateAt(50, noWarmup)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(100, noWarmup)).toBe(0);
  });
});

describe('isExcludedFromDecay', () => {
  it('excludes BN parameters and biases, keeps kernels', () => {
    expect(isExcludedFromDecay('conv1/kernel')).toBe(false);
    expect(isExcludedFromDecay('dense/kernel')).toBe(false);
    expect(isExcludedFromDecay('head0_dense/kernel')).toBe(false);
    expect(isExcludedFromDecay('conv1/bias')).toBe(true);
    expect(isExcludedFromDecay('batch_normalization_1/gamma')).toBe(true);
    expect(isExcludedFromDecay('block1_bn/beta')).toBe(true);
    expect(isExcludedFromDecay('stem/bn/gamma')).toBe(true);
  });
});

// Plain-JS references, element by element in float64.
function adamRef(p0: number[], grads: number[][], lrs: number[], wd: number): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      p[i] -= lrs[k] * (mHat / (Math.sqrt(vHat) + eps) + wd * p[i]);
    }
  });
  return p;
}

function sgdRef(p0: number[], grads: number[][], lrs: number[], mu: number, wd: number): number[] {
  const p = p0.slice();
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    for (let i = 0; i < p.length; i++) {
      v[i] = mu * v[i] + g[i] + wd * p[i];
      p[i] -= lrs[k] * v[i];
    }
  });
  return p;
}

const P0 = [0.5, -1.0, 2.0, 0.0];
const G = [
  [0.1, -0.3, 0.2, 0.0],
  [-0.2, 0.1, 0.4, 0.05],
];
const LRS = [0.01, 0.02];

describe('adam', () => {
  for (const wd of [0, 0.1]) {
    it(`matches a hand-computed two-step update (weight decay ${wd})`, () => {
      const p = param('dense/kernel', P0);
      const opt = createOptimizer([p], config('adam', { weightDecay: wd }));
      G.forEach((g, k) => step(opt, { 'dense/kernel': g }, LRS[k]));
      expectClose(values(p), adamRef(P0, G, LRS, wd));
      disposeAll(opt, [p]);
    });
  }

  it('does not decay excluded parameters', () => {
    const kernel = param('dense/kernel', P0);
    const bias = param('dense/bias', P0);
    const opt = createOptimizer([kernel, bias], config('adam', { weightDecay: 0.5 }));
    G.forEach((g, k) => step(opt, { 'dense/kernel': g, 'dense/bias': g }, LRS[k]));
    expectClose(values(kernel), adamRef(P0, G, LRS, 0.5));
    expectClose(values(bias), adamRef(P0, G, LRS, 0));
    expect(values(kernel)).not.toEqual(values(bias));
    disposeAll(opt, [kernel, bias]);
  });
});

describe('sgd', () => {
  it('matches hand-computed two momentum steps, with L2 decay on kernels only', () => {
    const kernel = param('conv1/kernel', P0);
    const bias = param('conv1/bias', P0);
    const opt = createOptimizer([kernel, bias], config('sgd', { momentum: 0.9, weightDecay: 0.1 }));
    G.forEach((g, k) => step(opt, { 'conv1/kernel': g, 'conv1/bias': g }, LRS[k]));
    expectClose(values(kernel), sgdRef(P0, G, LRS, 0.9, 0.1));
    expectClose(values(bias), sgdRef(P0, G, LRS, 0.9, 0));
    // By hand for element 0 without decay: v1 = 0.1, p1 = 0.499; v2 = 0.09 - 0.2 = -0.11, p2 = 0.499 + 0.0022.
    expect(values(bias)[0]).toBeCloseTo(0.5012, 6);
    disposeAll(opt, [kernel, bias]);
  });
});

describe('lars', () => {
  it('matches a hand-computed step with trust ratio; excluded params are not adapted or decayed', () => {
    const kernel = param('conv1/kernel', [3, 4]);
    const gamma = param('block1_bn/gamma', [3, 4]);
    const opt = createOptimizer([kernel, gamma], config('lars', { momentum: 0.9, weightDecay: 0.1 }));
    step(opt, { 'conv1/kernel': [0.6, 0.8], 'block1_bn/gamma': [0.6, 0.8] }, 1);
    // g' = g + 0.1 p = [0.9, 1.2], ||g'|| = 1.5, ||p|| = 5, trust = 0.001 * 5 / 1.5 = 1/300; v = g'/300; p -= v.
    expectClose(values(kernel), [3 - 0.9 / 300, 4 - 1.2 / 300]);
    // Excluded: scaled_lr = lr = 1, v = g.
    expectClose(values(gamma), [2.4, 3.2]);

    // Second step: momentum carries the first velocity over.
    step(opt, { 'conv1/kernel': [0.6, 0.8], 'block1_bn/gamma': [0.6, 0.8] }, 0.5);
    const p1 = [3 - 0.9 / 300, 4 - 1.2 / 300];
    const g2 = [0.6 + 0.1 * p1[0], 0.8 + 0.1 * p1[1]];
    const trust = (0.001 * Math.hypot(...p1)) / Math.hypot(...g2);
    const v2 = g2.map((g, i) => 0.9 * ([0.9, 1.2][i] / 300) + 0.5 * trust * g);
    expectClose(values(kernel), p1.map((p, i) => p - v2[i]));
    expectClose(values(gamma), [2.4 - (0.9 * 0.6 + 0.5 * 0.6), 3.2 - (0.9 * 0.8 + 0.5 * 0.8)]);
    disposeAll(opt, [kernel, gamma]);
  });

  it('uses a trust ratio of 1 when the parameter norm is 0', () => {
    const kernel = param('dense/kernel', [0, 0]);
    const opt = createOptimizer([kernel], config('lars', { weightDecay: 0 }));
    step(opt, { 'dense/kernel': [1, -2] }, 0.1);
    expectClose(values(kernel), [-0.1, 0.2]);
    disposeAll(opt, [kernel]);
  });
});

describe('all optimisers', () => {
  const quadratic: Record<OptimizerName, Partial<OptimConfig>> = {
    adam: { learningRate: 0.1 },
    sgd: { learningRate: 0.05 },
    // LARS steps are ~eeta * lr * ||p|| (normalised gradient), hence the large base rate.
    lars: { learningRate: 20 },
  };

  for (const name of ALL) {
    it(`${name} minimises ||p - target||² over a 10-d parameter`, () => {
      const target = tf.tensor1d([0.3, -0.7, 1.2, 0.5, -1.5, 0.9, -0.2, 2.0, -1.1, 0.6]);
      const p = param('dense/kernel', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      const cfg = config(name, { ...quadratic[name], warmupSteps: 10, totalSteps: 300 });
      const opt = createOptimizer([p], cfg);
      for (let s = 0; s < cfg.totalSteps; s++) {
        const grad = tf.tidy(() => tf.mul(2, tf.sub(p.variable, target)));
        opt.apply({ 'dense/kernel': grad }, learningRateAt(s, cfg));
        grad.dispose();
      }
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(p.variable, target))).dataSync()[0]);
      expect(err).toBeLessThan(1e-2);
      target.dispose();
      disposeAll(opt, [p]);
    });
  }

  for (const name of ALL) {
    it(`${name} leaks no tensors across steps and frees everything on dispose`, () => {
      const before = tf.memory().numTensors;
      const params = [param('conv1/kernel', [1, 2, 3]), param('conv1/bias', [0.1, 0.2, 0.3])];
      const opt = createOptimizer(params, config(name, { weightDecay: 1e-4 }));
      const grads = { 'conv1/kernel': [0.1, -0.1, 0.2], 'conv1/bias': [0.3, 0.0, -0.3] };
      step(opt, grads, 0.01);
      const after1 = tf.memory().numTensors;
      for (let i = 0; i < 50; i++) step(opt, grads, 0.01);
      expect(tf.memory().numTensors).toBe(after1);
      disposeAll(opt, params);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  for (const name of ALL) {
    it(`${name} state round trip: a restored optimiser makes the identical next update`, async () => {
      const init = { kernel: [0.5, -1, 2], bias: [0.1, 0.2, -0.3] };
      const make = () => {
        const params = [param('conv1/kernel', init.kernel), param('conv1/bias', init.bias)];
        return { params, opt: createOptimizer(params, config(name, { weightDecay: 0.01 })) };
      };
      const a = make();
      const grads = [
        { 'conv1/kernel': [0.1, -0.2, 0.3], 'conv1/bias': [0.05, 0.0, -0.1] },
        { 'conv1/kernel': [-0.3, 0.1, 0.2], 'conv1/bias': [0.2, -0.1, 0.0] },
        { 'conv1/kernel': [0.2, 0.2, -0.1], 'conv1/bias': [-0.1, 0.3, 0.1] },
      ];
      step(a.opt, grads[0], 0.05);
      step(a.opt, grads[1], 0.04);

      const state = await a.opt.getState();
      const slots = name === 'adam' ? ['m', 'v'] : ['v'];
      expect(state.map((s) => s.name).sort()).toEqual(
        [`${name}/step`, ...['conv1/kernel', 'conv1/bias'].flatMap((p) => slots.map((s) => `${name}/${p}/${s}`))].sort(),
      );
      const stepEntry = state.find((s) => s.name === `${name}/step`)!;
      expect(stepEntry.shape).toEqual([]);
      expect(Array.from(stepEntry.values)).toEqual([2]);
      // The state is a copy: later updates do not change it.
      const frozen = state.map((s) => Array.from(s.values));

      const b = make();
      a.params.forEach((p, i) => b.params[i].variable.assign(p.variable));
      b.opt.setState(state);
      step(a.opt, grads[2], 0.03);
      step(b.opt, grads[2], 0.03);
      a.params.forEach((p, i) => expect(values(b.params[i])).toEqual(values(p)));
      expect(state.map((s) => Array.from(s.values))).toEqual(frozen);

      const wrongShape = state.map((s) => (s.name.endsWith('/step') ? s : { ...s, shape: [s.values.length, 1] }));
      expect(() => b.opt.setState(wrongShape)).toThrow(/shape/);
      expect(() => b.opt.setState(state.filter((s) => !s.name.endsWith('/step')))).toThrow(/missing/);

      disposeAll(a.opt, a.params);
      disposeAll(b.opt, b.params);
    });
  }

  it('rejects gradients for unknown parameters or of the wrong shape, leaving the parameter untouched', () => {
    const p = param('dense/kernel', [1, 2]);
    const opt = createOptimizer([p], config('sgd'));
    expect(() => step(opt, { 'other/kernel': [1, 1] }, 0.1)).toThrow(/unknown/);
    expect(() => step(opt, { 'dense/kernel': [1, 1, 1] }, 0.1)).toThrow(/shape/);
    expect(values(p)).toEqual([1, 2]);
    disposeAll(opt, [p]);
  });
});
