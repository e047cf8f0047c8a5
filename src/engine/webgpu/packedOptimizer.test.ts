// The fused optimiser against the tfjs one, on WebGPU (Dawn in Node): the same parameters, slots, gradient norm and
// checkpoint state, step after step, for Adam(W), SGD and LARS; in three GPU programs per step.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { OptimConfig, OptimizerName } from '../config';
import { createOptimizer, type Optimizer, type TrainableParam } from '../optim';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { Random } from '../random';
import { CHUNK, packedLayout } from './packedOptimizer';

useDawn();

// Sizes that straddle chunks, a parameter smaller than one, and names with and without decay.
const SHAPES: [string, number[]][] = [
  ['block1_conv/kernel', [3, 3, 3, 16]],
  ['block1_bn/gamma', [16]],
  ['block1_bn/beta', [16]],
  ['representation/kernel', [40, 30]],
  ['representation/bias', [30]],
  ['head1_dense/kernel', [7]],
];

function values(shape: number[], rng: Random, scale = 1): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: size }, () => scale * (rng.next() * 2 - 1));
}

function params(seed: number): TrainableParam[] {
  const rng = new Random(seed);
  return SHAPES.map(([name, shape]) => ({ name, variable: tf.tidy(() => tf.variable(tf.tensor(values(shape, rng), shape), true)) }));
}

function config(optimizer: OptimizerName): OptimConfig {
  return { optimizer, learningRate: 0.1, momentum: 0.9, weightDecay: 0.05, warmupSteps: 0, totalSteps: 100 };
}

async function read(ps: TrainableParam[]): Promise<Float32Array[]> {
  return Promise.all(ps.map(async (p) => (await p.variable.data()) as Float32Array));
}

/** k steps of seeded gradients; returns each step's gradient norm. */
async function train(opt: Optimizer, ps: TrainableParam[], steps: number, seed: number, skip: string[] = []): Promise<number[]> {
  const rng = new Random(seed);
  const norms: number[] = [];
  for (let s = 0; s < steps; s++) {
    const grads = Object.fromEntries(
      ps.filter((p) => !skip.includes(p.name)).map((p) => [p.name, tf.tensor(values(p.variable.shape, rng, 0.5), p.variable.shape)]),
    );
    const prepared = opt.prepare(grads);
    norms.push((await prepared.gradNorm.data())[0]!);
    prepared.apply(0.1 / (s + 1));
    prepared.dispose();
    tf.dispose(Object.values(grads));
  }
  return norms;
}

describe('packedLayout', () => {
  it('starts every parameter on a chunk and maps each chunk to its parameter', () => {
    const layout = packedLayout([3, CHUNK, CHUNK + 1], [false, true, false]);
    expect(layout.offsets).toEqual([0, CHUNK, 2 * CHUNK]);
    expect(layout.total).toBe(4 * CHUNK);
    expect(Array.from(layout.table.slice(0, 12))).toEqual([0, 3, 0, 0, CHUNK, CHUNK, 1, 1, 2 * CHUNK, CHUNK + 1, 2, 0]);
    expect(Array.from(layout.table.slice(12))).toEqual([0, 1, 2, 2]);
  });
});

describe('the fused optimiser on WebGPU', () => {
  for (const name of ['adam', 'sgd', 'lars'] as const) {
    it(`${name}: the same parameters, gradient norms and state as the tfjs optimiser over 5 steps`, async () => {
      const a = params(1);
      const b = params(1);
      const reference = await withFusedKernels(false, () => createOptimizer(a, config(name)));
      const fused = await withFusedKernels(true, () => createOptimizer(b, config(name)));
      expect(fused.constructor.name).toBe('PackedOptimizer');
      expect(reference.constructor.name).not.toBe('PackedOptimizer');
      const normsA = await train(reference, a, 5, 7);
      const normsB = await train(fused, b, 5, 7);
      expect(maxRelativeDifference(normsB, normsA)).toBeLessThan(1e-5);
      const [pa, pb] = [await read(a), await read(b)];
      pa.forEach((v, i) => expect(maxRelativeDifference(pb[i]!, v)).toBeLessThan(1e-5));
      const [sa, sb] = [await reference.getState(), await fused.getState()];
      expect(sb.map((s) => s.name)).toEqual(sa.map((s) => s.name));
      sa.forEach((s, i) => {
        expect(sb[i]!.shape).toEqual(s.shape);
        expect(maxRelativeDifference(sb[i]!.values, s.values)).toBeLessThan(1e-5);
      });
      reference.dispose();
      fused.dispose();
      tf.dispose([...a, ...b].map((p) => p.variable));
    });
  }

  it('takes three GPU programs per step, for any number of parameters', async () => {
    const ps = params(2);
    const opt = await withFusedKernels(true, () => createOptimizer(ps, config('adam')));
    const grads = Object.fromEntries(ps.map((p) => [p.name, tf.onesLike(p.variable)]));
    const { count } = await countDispatches(() => {
      const prepared = opt.prepare(grads);
      prepared.apply(0.01);
      prepared.dispose();
    });
    expect(count).toBe(3);
    tf.dispose(Object.values(grads));
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('continues a checkpoint of the tfjs optimiser exactly as the tfjs optimiser does, and the other way round', async () => {
    for (const [from, to] of [
      [false, true],
      [true, false],
    ] as const) {
      const a = params(3);
      const first = await withFusedKernels(from, () => createOptimizer(a, config('adam')));
      await train(first, a, 2, 5);
      const state = await first.getState();
      const b = params(3);
      b.forEach((p, i) => p.variable.assign(a[i]!.variable));
      const second = await withFusedKernels(to, () => createOptimizer(b, config('adam')));
      second.setState(state);
      await train(first, a, 2, 9);
      await train(second, b, 2, 9);
      const [pa, pb] = [await read(a), await read(b)];
      pa.forEach((v, i) => expect(maxRelativeDifference(pb[i]!, v)).toBeLessThan(1e-5));
      first.dispose();
      second.dispose();
      tf.dispose([...a, ...b].map((p) => p.variable));
    }
  });

  it('leaves a parameter without a gradient and its slots alone, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const ps = params(4);
    const opt = await withFusedKernels(true, () => createOptimizer(ps, config('sgd')));
    const frozen = (await ps[3]!.variable.data()).slice();
    await train(opt, ps, 1, 3);
    const after1 = tf.memory().numTensors;
    await train(opt, ps, 3, 4, ['representation/kernel']);
    expect(tf.memory().numTensors).toBe(after1);
    const moved = await ps[3]!.variable.data();
    expect(Array.from(moved)).not.toEqual(Array.from(frozen));
    const held = moved.slice();
    await train(opt, ps, 2, 5, ['representation/kernel']);
    expect(Array.from(await ps[3]!.variable.data())).toEqual(Array.from(held));
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses unknown or misshapen gradients before changing anything', async () => {
    const ps = params(5);
    const opt = await withFusedKernels(true, () => createOptimizer(ps, config('lars')));
    const wrong = tf.zeros([2]);
    expect(() => opt.prepare({ 'nope/kernel': wrong })).toThrow(/unknown/);
    expect(() => opt.prepare({ 'block1_bn/gamma': wrong })).toThrow(/shape/);
    wrong.dispose();
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });
});
