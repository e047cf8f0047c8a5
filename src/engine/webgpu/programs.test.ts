// The shared pieces of the fused programs that are not a kernel of their own.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { fusedBackend, stackScalars } from './programs';

useDawn();

describe('uploads on the fused kernels’ WebGPU backend', () => {
  it('write a tensor’s values through the queue: no staging buffer, no copy, and what comes after reads them', async () => {
    const backend = fusedBackend()!;
    const device = (backend as unknown as { device: GPUDevice }).device;
    const encoder = Object.getPrototypeOf(device.createCommandEncoder()) as GPUCommandEncoder;
    const made = { staging: 0, copies: 0 };
    const createBuffer = Object.getPrototypeOf(device).createBuffer as GPUDevice['createBuffer'];
    const copy = encoder.copyBufferToBuffer;
    Object.getPrototypeOf(device).createBuffer = function (this: GPUDevice, ...args: Parameters<GPUDevice['createBuffer']>) {
      if (args[0].usage & GPUBufferUsage.MAP_WRITE) made.staging++;
      return createBuffer.apply(this, args);
    };
    encoder.copyBufferToBuffer = function (this: GPUCommandEncoder, ...args: Parameters<GPUCommandEncoder['copyBufferToBuffer']>) {
      made.copies++;
      return copy.apply(this, args);
    } as GPUCommandEncoder['copyBufferToBuffer'];
    try {
      // Buffers of the size in the pool, free (a read submits, after which they are); then, in one unsubmitted command
      // buffer, a computed tensor, uploads into buffers from the pool, and programs that read them.
      const old = tf.tidy(() => [0, 1, 2].map(() => tf.fill([37], 0)));
      tf.dispose(old);
      const flush = tf.fill([1], 0);
      await flush.data();
      flush.dispose();
      const before = { ...made };
      const x = tf.fill([37], 2);
      const values = tf.tensor1d(Float32Array.from({ length: 37 }, (_, i) => i - 18));
      const ints = tf.tensor1d(Int32Array.from({ length: 37 }, (_, i) => 3 * i), 'int32');
      const y = tf.tidy(() => tf.add(tf.mul(x, values), tf.cast(ints, 'float32')));
      expect(made.copies - before.copies).toBe(0);
      expect(made.staging - before.staging).toBe(0);
      expect(Array.from(await y.data())).toEqual(Array.from({ length: 37 }, (_, i) => 2 * (i - 18) + 3 * i));
      tf.dispose([x, values, ints, y]);
    } finally {
      Object.getPrototypeOf(device).createBuffer = createBuffer;
      encoder.copyBufferToBuffer = copy;
    }
  });
});

describe('stackScalars', () => {
  it('packs computed scalars by copies, without a dispatch, in order', async () => {
    const a = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])));
    const b = tf.tidy(() => tf.mean(tf.tensor2d([[4, 6]])));
    const c = tf.scalar(-0.5);
    const { result, count } = await countDispatches(() => withFusedKernels(true, () => stackScalars([a, b, c, a])));
    expect(count).toBe(0);
    expect(result.shape).toEqual([4]);
    expect(Array.from(await result.data())).toEqual([6, 5, -0.5, 6]);
    tf.dispose([a, b, c, result]);
  });

  it('is tf.stack with the fused kernels off, or for a tensor that is not a float32 scalar', async () => {
    const a = tf.scalar(1);
    const n = tf.scalar(2, 'int32');
    const pair = tf.tensor1d([3, 4]);
    const off = await withFusedKernels(false, () => stackScalars([a, a]));
    const ints = await withFusedKernels(true, () => stackScalars([n, n]));
    const vectors = await withFusedKernels(true, () => stackScalars([pair, pair]));
    expect(Array.from(await off.data())).toEqual([1, 1]);
    expect(ints.dtype).toBe('int32');
    expect(Array.from(await ints.data())).toEqual([2, 2]);
    expect(vectors.shape).toEqual([2, 2]);
    tf.dispose([a, n, pair, off, ints, vectors]);
  });
});
