// The fused batch norm against tfjs-layers' own, on WebGPU (Dawn in Node): the same output, moving statistics and
// gradients (x, gamma, beta) to float32 tolerance, for convolution and dense shapes; in 3 programs forward, 3 back (2 each
// way for a layer of at most DIRECT_ROWS rows),
// and one more each way (the middle pass over groups of chunks) past DIRECT_CHUNKS chunks of rows.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { batchNorm } from '../layers';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { Random } from '../random';
import { batchNormGeometry, batchNormParallelism, DIRECT_CHUNKS } from './batchNorm';

useDawn();

function randomTensor(shape: number[], rng: Random, shift = 0): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => shift + 3 * (rng.next() * 2 - 1)), shape);
}

interface Outcome {
  y: Float32Array;
  dx: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/** One training-mode forward and backward of a fresh layer (gamma and beta not at their defaults) on x. */
async function run(fused: boolean, x: tf.Tensor, upstream: tf.Tensor, seed: number): Promise<Outcome> {
  return withFusedKernels(fused, async () => {
    const layer = batchNorm(`test_bn_${fused}_${seed}`);
    layer.build(x.shape);
    const rng = new Random(seed);
    const channels = x.shape[x.rank - 1]!;
    layer.setWeights([randomTensor([channels], rng, 1), randomTensor([channels], rng), randomTensor([channels], rng), tf.tidy(() => tf.abs(randomTensor([channels], rng, 2)))]);
    const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const xv = tf.variable(x, true);
    let y: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      y = tf.keep(layer.apply(xv, { training: true }) as tf.Tensor);
      return tf.sum(tf.mul(y, upstream)) as tf.Scalar;
    }, [xv, gamma!, beta!]);
    const [, , mm, mv] = layer.getWeights();
    const outcome: Outcome = {
      y: (await y!.data()) as Float32Array,
      dx: (await grads[xv.name]!.data()) as Float32Array,
      dGamma: (await grads[gamma!.name]!.data()) as Float32Array,
      dBeta: (await grads[beta!.name]!.data()) as Float32Array,
      movingMean: (await mm!.data()) as Float32Array,
      movingVariance: (await mv!.data()) as Float32Array,
    };
    tf.dispose([value, y!, xv, ...Object.values(grads)]);
    for (const w of layer.weights) w.dispose();
    return outcome;
  });
}

/** One training-mode forward and backward of a fresh layer on x, gamma and beta trained; leaves nothing behind. */
async function trainOnce(name: string, x: tf.Tensor): Promise<void> {
  const layer = batchNorm(name);
  layer.build(x.shape);
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, [gamma!, beta!]);
  await value.data();
  tf.dispose([value, ...Object.values(grads)]);
  for (const w of layer.weights) w.dispose();
}

describe('fused batch norm on WebGPU', () => {
  // Rows not a multiple of the chunk, one channel, many channels, a dense layer's [N, C], a large offset; then past
  // DIRECT_CHUNKS chunks (the middle pass), with a ragged last group and chunk, and around a large offset.
  const shapes: [number[], number][] = [
    [[6, 7, 5, 8], 0],
    [[32, 28, 28, 1], 0],
    [[4, 4, 4, 64], 0],
    [[32, 96], 0],
    [[16, 3, 3, 12], 50],
    [[41, 23, 23, 3], 0],
    [[20, 40, 40, 2], 50],
  ];
  for (const [shape, shift] of shapes) {
    it(`[${shape}]${shift ? ` around ${shift}` : ''}: the tfjs layer's output, moving statistics and gradients`, async () => {
      const rng = new Random(shape.length * 100 + shape[0]!);
      const x = randomTensor(shape, rng, shift);
      const upstream = randomTensor(shape, rng);
      const reference = await run(false, x, upstream, 3);
      const fused = await run(true, x, upstream, 3);
      expect(maxRelativeDifference(fused.y, reference.y)).toBeLessThan(2e-5);
      expect(maxRelativeDifference(fused.movingMean, reference.movingMean)).toBeLessThan(2e-5);
      expect(maxRelativeDifference(fused.movingVariance, reference.movingVariance)).toBeLessThan(2e-5);
      expect(maxRelativeDifference(fused.dBeta, reference.dBeta)).toBeLessThan(2e-5);
      // Sums of products over many rows: compared relative to the largest magnitude of each gradient.
      const scale = (a: Float32Array) => Math.max(1, ...Array.from(a, Math.abs));
      expect(maxRelativeDifference(fused.dGamma, reference.dGamma) / scale(reference.dGamma)).toBeLessThan(2e-5);
      expect(maxRelativeDifference(fused.dx, reference.dx) / scale(reference.dx)).toBeLessThan(2e-5);
      tf.dispose([x, upstream]);
    });
  }

  it('writes the moving statistics into their own buffers, step after step, as tfjs moves them', async () => {
    const rng = new Random(21);
    const xs = [0, 1, 2].map(() => randomTensor([8, 5, 5, 6], rng, 3));
    const train = (fused: boolean) =>
      withFusedKernels(fused, async () => {
        const layer = batchNorm(`moving_${fused}`);
        layer.build(xs[0]!.shape);
        const moving = layer.weights.slice(2).map((w) => w.read());
        const ids: object[][] = [];
        for (const x of xs) {
          tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
          ids.push(moving.map((v) => v.dataId));
        }
        const values = await Promise.all(moving.map(async (v) => (await v.data()) as Float32Array));
        for (const w of layer.weights) w.dispose();
        return { ids, values };
      });
    const fused = await train(true);
    const reference = await train(false);
    // The first step uploads the initial values (zeros, ones) and keeps their buffers; every later one writes them.
    expect(fused.ids[2]).toEqual(fused.ids[0]);
    fused.values.forEach((v, i) => expect(maxRelativeDifference(v, reference.values[i]!)).toBeLessThan(2e-5));
    tf.dispose(xs);
  });

  it('has the middle pass where the shapes above say', () => {
    expect(batchNormGeometry([6, 7, 5, 8]).perGroup).toBe(0);
    expect(batchNormGeometry([32, 28, 28, 1]).perGroup).toBeGreaterThan(0);
    // 41 · 23 · 23 = 21,689 rows: 339 chunks of 64 (the last of 57 rows), in 18 groups of 19 (the last of 16).
    expect(batchNormGeometry([41, 23, 23, 3])).toEqual({ rows: 21689, channels: 3, direct: false, chunks: 339, perGroup: 19, groups: 18 });
    // A head's batch and a late convolution of a small batch: one invocation per channel over every row.
    expect(batchNormGeometry([32, 96]).direct).toBe(true);
    expect(batchNormGeometry([16, 3, 3, 12]).direct).toBe(true);
    expect(batchNormGeometry([8, 6, 6, 16]).direct).toBe(false);
    expect(batchNormGeometry([20, 40, 40, 2]).chunks).toBeGreaterThan(DIRECT_CHUNKS);
  });

  it('runs 2 programs each way for a small layer, and leaks nothing', async () => {
    const rng = new Random(8);
    const x = randomTensor([32, 96], rng);
    await run(true, x, x, 1);
    const before = tf.memory().numTensors;
    const { byProgram } = await withFusedKernels(true, () =>
      countDispatches(() => trainOnce('count_bn_direct', x)),
    );
    const fused = [...byProgram].filter(([name]) => name.startsWith('tabclr_bn_'));
    expect(fused.map(([name]) => name)).toEqual(batchNormParallelism(x.shape).map((p) => p.program));
    expect(fused.map(([name]) => name)).toEqual(['tabclr_bn_moments_direct', 'tabclr_bn_normalize', 'tabclr_bn_grad_direct', 'tabclr_bn_grad_input']);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('runs 3 programs forward and 3 backward, and leaks nothing', async () => {
    const rng = new Random(9);
    const x = randomTensor([8, 6, 6, 16], rng);
    await run(true, x, x, 1);
    const before = tf.memory().numTensors;
    const { count, byProgram } = await withFusedKernels(true, () =>
      countDispatches(() => trainOnce('count_bn', x)),
    );
    const fusedPrograms = [...byProgram].filter(([name]) => name.startsWith('tabclr_bn_')).reduce((a, [, n]) => a + n, 0);
    expect(fusedPrograms, JSON.stringify([...byProgram])).toBe(6);
    // Besides them only the loss's own sum (and its gradient's fill).
    expect(count - fusedPrograms).toBeLessThanOrEqual(3);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('dispatches what batchNormParallelism says, with the middle pass both ways, and leaks nothing', async () => {
    const rng = new Random(10);
    const x = randomTensor([41, 23, 23, 3], rng);
    await run(true, x, x, 1);
    const before = tf.memory().numTensors;
    const programs: { name: string; workgroups: number }[] = [];
    const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { shaderKey: string; dispatch: number[] }, ...rest: unknown[]) => unknown };
    const runProgram = backend.runWebGPUProgram;
    backend.runWebGPUProgram = (p, ...rest) => {
      if (p.shaderKey.startsWith('tabclr_bn_')) programs.push({ name: p.shaderKey, workgroups: p.dispatch[0]! });
      return runProgram.call(backend, p, ...rest);
    };
    try {
      await withFusedKernels(true, async () => {
        const layer = batchNorm('count_bn_groups');
        layer.build(x.shape);
        const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, [gamma!, beta!]);
        await value.data();
        tf.dispose([value, ...Object.values(grads)]);
        for (const w of layer.weights) w.dispose();
      });
    } finally {
      backend.runWebGPUProgram = runProgram;
    }
    const expected = batchNormParallelism(x.shape);
    expect(expected).toHaveLength(8);
    expect(programs.map((p) => p.name)).toEqual(expected.map((e) => e.program));
    // 64 invocations to a workgroup.
    expect(programs.map((p) => p.workgroups)).toEqual(expected.map((e) => Math.ceil(e.invocations / 64)));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
