// The fused global average pooling against tfjs-layers' own, on WebGPU (Dawn in Node): output and gradient.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { globalAveragePool } from '../layers';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { Random } from '../random';

useDawn();

async function pool(fused: boolean, x: tf.Tensor, upstream: tf.Tensor) {
  return withFusedKernels(fused, async () => {
    const layer = globalAveragePool(`pool_${fused}`);
    const xv = tf.variable(x, true);
    let y: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      y = tf.keep(layer.apply(xv) as tf.Tensor);
      return tf.sum(tf.mul(y, upstream)) as tf.Scalar;
    }, [xv]);
    const out = { y: (await y!.data()) as Float32Array, shape: y!.shape, dx: (await grads[xv.name]!.data()) as Float32Array };
    tf.dispose([value, y!, xv, ...Object.values(grads)]);
    return out;
  });
}

describe('fused global average pooling on WebGPU', () => {
  for (const shape of [
    [32, 4, 4, 64],
    [3, 7, 5, 9],
    [2, 1, 1, 3],
  ]) {
    it(`[${shape}]: the tfjs layer's output and gradient`, async () => {
      const rng = new Random(shape[3]!);
      const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 4 - 2), shape);
      const upstream = tf.tensor(Float32Array.from({ length: shape[0]! * shape[3]! }, () => rng.next() * 2 - 1), [shape[0]!, shape[3]!]);
      const reference = await pool(false, x, upstream);
      const fused = await pool(true, x, upstream);
      expect(fused.shape).toEqual([shape[0], shape[3]]);
      expect(maxRelativeDifference(fused.y, reference.y)).toBeLessThan(1e-6);
      expect(maxRelativeDifference(fused.dx, reference.dx)).toBeLessThan(1e-6);
      tf.dispose([x, upstream]);
    });
  }

  it('takes one program each way', async () => {
    const x = tf.ones([4, 3, 3, 8]);
    const { byProgram } = await withFusedKernels(true, () =>
      countDispatches(async () => {
        const layer = globalAveragePool('count_pool');
        const dx = tf.grad((input: tf.Tensor) => tf.sum(layer.apply(input) as tf.Tensor))(x);
        await dx.data();
        dx.dispose();
      }),
    );
    expect(byProgram.get('tabclr_spatial_mean')).toBe(1);
    expect(byProgram.get('tabclr_spatial_mean_grad')).toBe(1);
    x.dispose();
  });
});
