// The fused optimiser against the tfjs one, on WebGPU (Dawn in Node): the same parameters, slots, gradient norm and
// checkpoint state, step after step, for Adam(W), SGD and LARS; in three GPU programs per step for a small model. Cut
// into packs under a small buffer limit, and with the block pass of a model of many chunks, it computes the same; a
// non-finite gradient is caught by its bits.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { OptimConfig, OptimizerName } from '../config';
import { createOptimizer, type Optimizer, type TrainableParam } from '../optim';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { Random } from '../random';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { selfTestConfig } from '../selftest';
import { syntheticImages } from '../synthetic';
import { CHUNK, createPackedOptimizer, packedLayout, simulateFastMathNorm } from './packedOptimizer';
import { optimizerParallelism, SLOT_COUNT } from './packing';

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

function params(seed: number, shapes = SHAPES): TrainableParam[] {
  const rng = new Random(seed);
  return shapes.map(([name, shape]) => ({ name, variable: tf.tidy(() => tf.variable(tf.tensor(values(shape, rng), shape), true)) }));
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

  it('starts from a variable’s new values when it was given some between steps (a checkpoint restored), and copies the parameters only then', async () => {
    const a = params(4);
    const b = params(4);
    const reference = await withFusedKernels(false, () => createOptimizer(a, config('adam')));
    const fused = await withFusedKernels(true, () => createOptimizer(b, config('adam')));
    const restored = values(SHAPES[3]![1], new Random(99));
    // Copies into the packs of a step: the gradients' always, the parameters' when they are not in the packs already.
    const copies = async (opt: Optimizer, ps: TrainableParam[]) => {
      const encoder = Object.getPrototypeOf((tf.backend() as unknown as { device: GPUDevice }).device.createCommandEncoder()) as GPUCommandEncoder;
      const copy = encoder.copyBufferToBuffer;
      let n = 0;
      encoder.copyBufferToBuffer = function (this: GPUCommandEncoder, ...args: Parameters<GPUCommandEncoder['copyBufferToBuffer']>) {
        n++;
        return copy.apply(this, args);
      } as GPUCommandEncoder['copyBufferToBuffer'];
      try {
        const grads = Object.fromEntries(ps.map((p) => [p.name, tf.onesLike(p.variable)]));
        const prepared = opt.prepare(grads);
        await prepared.gradNorm.data();
        prepared.dispose();
        tf.dispose(Object.values(grads));
      } finally {
        encoder.copyBufferToBuffer = copy;
      }
      return n;
    };
    const perStep = SHAPES.length;
    await train(reference, a, 2, 11);
    await train(fused, b, 2, 11);
    // After an update, the update's output holds the parameters: the gradients are copied, and the norm out of its sums
    // and into the read.
    expect(await copies(fused, b)).toBe(perStep + 2);
    for (const ps of [a, b]) ps[3]!.variable.assign(tf.tensor(restored, SHAPES[3]![1]));
    // Given new values: the parameters are copied in again.
    expect(await copies(fused, b)).toBe(2 * perStep + 2);
    await train(reference, a, 3, 12);
    await train(fused, b, 3, 12);
    const [pa, pb] = [await read(a), await read(b)];
    pa.forEach((v, i) => expect(maxRelativeDifference(pb[i]!, v)).toBeLessThan(1e-5));
    reference.dispose();
    fused.dispose();
    tf.dispose([...a, ...b].map((p) => p.variable));
  });

  it('writes the new values into each variable’s own buffer, unless a clone shares it, its values were read or a read is in flight', async () => {
    const ps = params(5);
    const opt = await withFusedKernels(true, () => createOptimizer(ps, config('sgd')));
    const v = ps[3]!.variable;
    const grads = () => Object.fromEntries(ps.map((p) => [p.name, tf.onesLike(p.variable)]));
    const update = () => {
      const g = grads();
      const prepared = opt.prepare(g);
      prepared.apply(0.1);
      prepared.dispose();
      tf.dispose(Object.values(g));
    };
    /** The values now, read from a copy (a read of v itself would leave them on the CPU as a cache). */
    const valuesOf = async (t: tf.Tensor) => {
      const copy = tf.mul(t, 1);
      const out = (await copy.data()) as Float32Array;
      copy.dispose();
      return out;
    };
    update();
    const ids = ps.map((p) => p.variable.dataId);
    update();
    expect(ps.map((p) => p.variable.dataId)).toEqual(ids);

    // A clone shares the data: v takes a new tensor, the clone keeps the values it was taken with.
    const taken = await valuesOf(v);
    const clone = tf.clone(v);
    update();
    expect(v.dataId).not.toBe(ids[3]);
    expect(await clone.data()).toEqual(taken);
    expect(await valuesOf(v)).not.toEqual(taken);
    clone.dispose();

    // Read (its values left on the CPU): a new tensor again, whose values a read then gives.
    await v.data();
    let id = v.dataId;
    update();
    expect(v.dataId).not.toBe(id);
    expect(await v.data()).toEqual(await valuesOf(v));

    // A read in flight when the update is recorded: it gives the values of its call, and a read after it the new ones.
    update();
    id = v.dataId;
    const before = await valuesOf(v);
    const pending = v.data();
    update();
    expect(v.dataId).not.toBe(id);
    expect(await pending).toEqual(before);
    const after = await valuesOf(v);
    expect(after).not.toEqual(before);
    expect(await v.data()).toEqual(after);
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('takes three GPU programs per step for a model of few chunks, whatever its number of parameters', async () => {
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

/** The packs' parameters, gradients and slot buffers hold this many bytes at most: 3 chunks per pack with Adam. */
const tinyLimit = (optimizer: OptimizerName) => 4 * (1 + SLOT_COUNT[optimizer]) * 3 * CHUNK;

// More than 256 chunks, so that the totals add blocks, not chunks: one parameter of 300 chunks and a ragged end.
const MANY_CHUNKS: [string, number[]][] = [
  ['stem_conv/kernel', [3, 3, 4, 8]],
  ['stage_conv/kernel', [300, CHUNK]],
  ['stage_bn/gamma', [40]],
  ['representation/kernel', [33, 31]],
];

describe('the fused optimiser cut into packs', () => {
  for (const name of ['adam', 'sgd', 'lars'] as const) {
    it(`${name}: packs of 3 chunks (parameters lying across two packs) compute what one pack computes`, async () => {
      const a = params(11);
      const b = params(11);
      const whole = await withFusedKernels(true, () => createPackedOptimizer(a, config(name))!);
      const cut = await withFusedKernels(true, () => createPackedOptimizer(b, config(name), { limitBytes: tinyLimit(name) })!);
      expect((whole as unknown as { packCount: number }).packCount).toBe(1);
      // 2 + 1 + 1 + 5 + 1 + 1 chunks in packs of 3.
      expect((cut as unknown as { packCount: number }).packCount).toBe(4);
      const normsA = await train(whole, a, 4, 3);
      const normsB = await train(cut, b, 4, 3);
      // The same sums in the same order, the same update of each element: equal, not merely close.
      expect(normsB).toEqual(normsA);
      const [pa, pb] = [await read(a), await read(b)];
      pa.forEach((v, i) => expect(Array.from(pb[i]!)).toEqual(Array.from(v)));
      const [sa, sb] = [await whole.getState(), await cut.getState()];
      sa.forEach((s, i) => expect(Array.from(sb[i]!.values)).toEqual(Array.from(s.values)));
      whole.dispose();
      cut.dispose();
      tf.dispose([...a, ...b].map((p) => p.variable));
    });
  }

  it('with the block pass (over 256 chunks), cut or whole, matches the tfjs optimiser, checkpoints included', async () => {
    for (const name of ['adam', 'lars'] as const) {
      const ref = params(12, MANY_CHUNKS);
      const reference = await withFusedKernels(false, () => createOptimizer(ref, config(name)));
      const normsRef = await train(reference, ref, 3, 4);
      for (const limitBytes of [undefined, 4 * (1 + SLOT_COUNT[name]) * 64 * CHUNK]) {
        const ps = params(12, MANY_CHUNKS);
        const fused = await withFusedKernels(true, () => createPackedOptimizer(ps, config(name), { limitBytes })!);
        const norms = await train(fused, ps, 3, 4);
        expect(maxRelativeDifference(norms, normsRef)).toBeLessThan(1e-5);
        const [pr, pf] = [await read(ref), await read(ps)];
        pr.forEach((v, i) => expect(maxRelativeDifference(pf[i]!, v), `${name} ${limitBytes} ${i}`).toBeLessThan(1e-5));
        const [sr, sf] = [await reference.getState(), await fused.getState()];
        sr.forEach((s, i) => expect(maxRelativeDifference(sf[i]!.values, s.values)).toBeLessThan(1e-5));
        // A checkpoint of the cut optimiser read back into a fresh one gives the same state.
        const again = params(12, MANY_CHUNKS);
        const restored = await withFusedKernels(true, () => createPackedOptimizer(again, config(name), { limitBytes })!);
        restored.setState(sf);
        const sr2 = await restored.getState();
        sf.forEach((s, i) => expect(Array.from(sr2[i]!.values)).toEqual(Array.from(s.values)));
        restored.dispose();
        fused.dispose();
        tf.dispose([...ps, ...again].map((p) => p.variable));
      }
      reference.dispose();
      tf.dispose(ref.map((p) => p.variable));
    }
  });

  it('dispatches what optimizerParallelism says: a partials and an update per pack, the blocks, the totals', async () => {
    const ps = params(13, MANY_CHUNKS);
    const limitBytes = 4 * 3 * 64 * CHUNK;
    const opt = await withFusedKernels(true, () => createPackedOptimizer(ps, config('adam'), { limitBytes })!);
    const grads = Object.fromEntries(ps.map((p) => [p.name, tf.onesLike(p.variable)]));
    const programs: { name: string; workgroups: number }[] = [];
    const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { shaderKey: string; dispatch: number[] }, ...rest: unknown[]) => unknown };
    const run = backend.runWebGPUProgram;
    backend.runWebGPUProgram = (p, ...rest) => {
      programs.push({ name: p.shaderKey, workgroups: p.dispatch[0]! });
      return run.call(backend, p, ...rest);
    };
    try {
      const prepared = opt.prepare(grads);
      prepared.apply(0.01);
      prepared.dispose();
    } finally {
      backend.runWebGPUProgram = run;
    }
    const expected = optimizerParallelism(ps.map((p) => p.variable.size), 'adam', limitBytes);
    // 2 + 300 + 1 + 4 chunks in packs of 64.
    expect(expected.filter((e) => e.program === 'tabclr_optim_partials')).toHaveLength(5);
    expect(programs.map((p) => p.name)).toEqual(expected.map((e) => e.program));
    // 64 invocations to a workgroup.
    expect(programs.map((p) => p.workgroups)).toEqual(expected.map((e) => Math.ceil(e.invocations / 64)));
    tf.dispose(Object.values(grads));
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('leaks nothing across packs, with and without every gradient', async () => {
    const before = tf.memory().numTensors;
    const ps = params(14);
    const opt = await withFusedKernels(true, () => createPackedOptimizer(ps, config('adam'), { limitBytes: tinyLimit('adam') })!);
    await train(opt, ps, 1, 3);
    const after1 = tf.memory().numTensors;
    const frozen = Array.from(await ps[3]!.variable.data());
    await train(opt, ps, 2, 4, ['representation/kernel']);
    expect(tf.memory().numTensors).toBe(after1);
    // The parameter without a gradient, which lies across two packs, is left as it was.
    expect(Array.from(await ps[3]!.variable.data())).toEqual(frozen);
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a limit that cannot hold one chunk, before making anything', async () => {
    const ps = params(15);
    const before = tf.memory().numTensors;
    await withFusedKernels(true, () => expect(() => createPackedOptimizer(ps, config('adam'), { limitBytes: 1000 })).toThrow(/cannot hold one chunk/));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(ps.map((p) => p.variable));
  });
});

describe('non-finite gradients, counted by their bits', () => {
  /** The gradient norm the fused optimiser reports for these gradients of params(16). */
  async function normOf(poison: number | null, fastMath: boolean, limitBytes?: number): Promise<number> {
    const ps = params(16);
    const opt = await withFusedKernels(true, () => createPackedOptimizer(ps, config('adam'), { limitBytes })!);
    const rng = new Random(5);
    const grads = Object.fromEntries(
      ps.map((p) => {
        const v = values(p.variable.shape, rng);
        if (p.name === 'representation/kernel' && poison !== null) v[700] = poison;
        return [p.name, tf.tensor(v, p.variable.shape)];
      }),
    );
    const was = simulateFastMathNorm(fastMath);
    try {
      const prepared = opt.prepare(grads);
      const norm = (await prepared.gradNorm.data())[0]!;
      prepared.dispose();
      return norm;
    } finally {
      simulateFastMathNorm(was);
      tf.dispose(Object.values(grads));
      opt.dispose();
      tf.dispose(ps.map((p) => p.variable));
    }
  }

  // WGSL lets an implementation assume that no value is NaN or infinite (Metal compiles with fast math), so a
  // non-finite gradient need not make Σg² non-finite: the compiler may, for instance, take g·g of a NaN as any finite
  // value. simulateFastMathNorm(true) builds the partials pass as such a compiler may have: its float sums take a
  // non-finite gradient as 0. Under it, the float path alone reports the norm of the other gradients (the case with
  // the poisoned element set to 0 shows that finite number), so a check on the norm's value, which is all the
  // optimiser had before, lets the step through. The count of non-finite bits still sees the element and turns the
  // reported norm into NaN.
  for (const poison of [NaN, Infinity, -Infinity]) {
    it(`${poison}: the norm is NaN even where the float sums would miss it`, async () => {
      const missed = await normOf(0, true);
      expect(Number.isFinite(missed)).toBe(true);
      expect(await normOf(poison, true)).toBeNaN();
      expect(await normOf(poison, false)).toBeNaN();
      // In a pack of its own too (the count crosses packs and the block sums alike).
      expect(await normOf(poison, true, tinyLimit('adam'))).toBeNaN();
    });
  }

  it('a finite gradient whose square overflows is not counted: the norm is +∞, as before', async () => {
    expect(await normOf(3e38, false)).toBe(Infinity);
  });

  it('the step is caught: finite false, the update skipped, nothing leaked', async () => {
    const config = selfTestConfig();
    config.model = { ...config.model, imageSize: 8, width: 1 / 16, projectionDim: 8 };
    config.batchSize = 2;
    const state = await withFusedKernels(true, () => createTrainState(config));
    expect(state.optimizer.constructor.name).toBe('PackedOptimizer');
    const { imageSize: s, channels: c } = config.model;
    const batch = tf.tensor4d(syntheticImages(2, s, c, 5), [2, s, s, c], 'int32');
    await trainStep(state, batch);
    const tensors = tf.memory().numTensors;
    const before = await Promise.all(state.params.map(async (p) => Array.from(await p.variable.data())));
    // One gradient element turns NaN between the backward pass and the optimiser, and the norm's float sums miss it.
    const prepare = state.optimizer.prepare.bind(state.optimizer);
    const poisoned = state.params[0]!.name;
    state.optimizer.prepare = (grads) => {
      const mask = tf.tidy(() => tf.oneHot(tf.tensor1d([0], 'int32'), grads[poisoned]!.size).reshape(grads[poisoned]!.shape));
      const bad = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), tf.fill(grads[poisoned]!.shape, NaN), grads[poisoned]!));
      mask.dispose();
      try {
        return prepare({ ...grads, [poisoned]: bad });
      } finally {
        bad.dispose();
      }
    };
    const was = simulateFastMathNorm(true);
    try {
      const metrics = await trainStep(state, batch);
      expect(metrics.finite).toBe(false);
      expect(Number.isFinite(metrics.loss)).toBe(true);
      const after = await Promise.all(state.params.map(async (p) => Array.from(await p.variable.data())));
      expect(after).toEqual(before);
    } finally {
      simulateFastMathNorm(was);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    batch.dispose();
    disposeTrainState(state);
  });
});
