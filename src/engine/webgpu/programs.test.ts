// The shared pieces of the fused programs that are not a kernel of their own.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { stackScalars } from './programs';

useDawn();

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
