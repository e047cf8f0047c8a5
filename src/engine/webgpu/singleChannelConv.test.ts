// The single-channel convolution programs against tfjs-webgpu's own kernels (Dawn in Node): forward, input gradient
// and filter gradient, for 'same' and 'valid' padding, strides 1 and 2, odd and even sizes.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { fusedBackend } from './programs';
import { Random } from '../random';
import type { ProgramParallelism } from './kernelBuilder';
import { singleChannelParallelism, singleChannelSplit } from './singleChannelConv';

useDawn();

function random(shape: number[], rng: Random): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1), shape);
}

async function convolve(fused: boolean, x: tf.Tensor4D, w: tf.Tensor4D, upstream: tf.Tensor, stride: number, pad: 'same' | 'valid') {
  return withFusedKernels(fused, async () => {
    // The wrapping happens when the fused kernels first start.
    fusedBackend();
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), upstream)) as tf.Scalar)([x, w]);
    const y = tf.conv2d(x, w, stride, pad);
    const out = { y: (await y.data()) as Float32Array, dx: (await grads[0]!.data()) as Float32Array, dw: (await grads[1]!.data()) as Float32Array };
    tf.dispose([value, y, ...grads]);
    return out;
  });
}

describe('single-channel convolution on WebGPU', () => {
  for (const [shape, outChannels, stride, pad] of [
    [[4, 9, 9, 1], 5, 1, 'same'],
    [[3, 10, 8, 1], 4, 2, 'same'],
    [[2, 7, 7, 1], 3, 1, 'valid'],
    [[2, 11, 11, 1], 8, 2, 'valid'],
  ] as const) {
    it(`[${shape}] → ${outChannels} channels, stride ${stride}, ${pad}: tfjs's output and gradients`, async () => {
      const rng = new Random(shape[1] * 10 + stride);
      const x = random([...shape], rng) as tf.Tensor4D;
      const w = random([3, 3, 1, outChannels], rng) as tf.Tensor4D;
      const outShape = tf.tidy(() => tf.conv2d(x, w, stride, pad).shape);
      const upstream = random(outShape, rng);
      const reference = await convolve(false, x, w, upstream, stride, pad);
      const fused = await convolve(true, x, w, upstream, stride, pad);
      expect(maxRelativeDifference(fused.y, reference.y)).toBeLessThan(1e-5);
      expect(maxRelativeDifference(fused.dx, reference.dx)).toBeLessThan(1e-5);
      expect(maxRelativeDifference(fused.dw, reference.dw)).toBeLessThan(1e-5);
      tf.dispose([x, w, upstream]);
    });
  }

  it('runs its own programs for one channel only', async () => {
    const rng = new Random(3);
    const one = random([2, 8, 8, 1], rng) as tf.Tensor4D;
    const three = random([2, 8, 8, 3], rng) as tf.Tensor4D;
    const w1 = random([3, 3, 1, 4], rng) as tf.Tensor4D;
    const w3 = random([3, 3, 3, 4], rng) as tf.Tensor4D;
    const { byProgram } = await withFusedKernels(true, () =>
      countDispatches(async () => {
        fusedBackend();
        const [a, b] = [tf.conv2d(one, w1, 1, 'same'), tf.conv2d(three, w3, 1, 'same')];
        await Promise.all([a.data(), b.data()]);
        tf.dispose([a, b]);
      }),
    );
    // One channel here; three through tfjs's own programs.
    expect([...byProgram].filter(([k]) => k.startsWith('tabclr_'))).toEqual([['tabclr_conv1ch_forward', 1]]);
    expect([...byProgram.keys()].filter((k) => !k.startsWith('tabclr_')).length).toBeGreaterThan(0);
    tf.dispose([one, three, w1, w3]);
  });

  it('adds the filter gradient in chunks of about √positions, both passes as the arithmetic says', async () => {
    // ResNet-18's stem at 512 views of 32 px: 724 chunks of 725 positions (was 2,048 chunks of 256 added by 576
    // invocations); the default run's first layer (32 views of 28 px): 158 chunks of 159.
    expect(singleChannelSplit(512 * 32 * 32)).toEqual({ chunks: 724, chunkLength: 725 });
    expect(singleChannelSplit(32 * 28 * 28)).toEqual({ chunks: 158, chunkLength: 159 });
    expect(singleChannelSplit(1)).toEqual({ chunks: 1, chunkLength: 1 });
    const rng = new Random(4);
    const x = random([3, 20, 20, 1], rng) as tf.Tensor4D;
    const w = random([3, 3, 1, 8], rng) as tf.Tensor4D;
    const c = tf.backend_util.computeConv2DInfo(x.shape, w.shape, 1, 1, 'same');
    const ran: ProgramParallelism[] = [];
    await withFusedKernels(true, async () => {
      fusedBackend();
      const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { parallelism?: ProgramParallelism }, ...rest: unknown[]) => unknown };
      const run = backend.runWebGPUProgram;
      backend.runWebGPUProgram = (p, ...rest) => {
        if (p.parallelism) ran.push(p.parallelism);
        return run.call(backend, p, ...rest);
      };
      try {
        const dw = tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x, f as tf.Tensor4D, 1, 'same')))(w);
        await dw.data();
        dw.dispose();
      } finally {
        backend.runWebGPUProgram = run;
      }
    });
    // Only the filter's gradient is asked for here.
    expect(ran).toEqual(singleChannelParallelism(c, false));
    tf.dispose([x, w]);
  });
});
