// The fused ReLU layer on WebGPU (Dawn in Node) against tfjs-layers' own: the same output and gradient (exactly: both
// are a select), zeros and negative values included; one program each way; the same saved config.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { relu } from '../layers';
import { Random } from '../random';

useDawn();

async function run(fused: boolean, x: tf.Tensor, upstream: tf.Tensor): Promise<{ y: Float32Array; dx: Float32Array }> {
  return withFusedKernels(fused, async () => {
    const layer = relu(`relu_${fused}`);
    let y: tf.Tensor | null = null;
    const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => {
      y = tf.keep(layer.apply(input, { training: true }) as tf.Tensor);
      return tf.sum(tf.mul(y, upstream)) as tf.Scalar;
    })(x);
    const out = { y: (await y!.data()) as Float32Array, dx: (await grad.data()) as Float32Array };
    tf.dispose([value, grad, y!]);
    return out;
  });
}

describe('fused ReLU on WebGPU', () => {
  for (const shape of [[2, 5, 5, 3], [32, 64], [1, 1]]) {
    it(`[${shape}]: output and gradient equal tfjs's`, async () => {
      const rng = new Random(shape.length);
      const size = shape.reduce((a, b) => a * b, 1);
      // A quarter exactly 0, where the gradient is 0 in both.
      const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => (i % 4 === 0 ? 0 : rng.next() * 2 - 1)), shape);
      const upstream = tf.tensor(Float32Array.from({ length: size }, () => rng.next() * 2 - 1), shape);
      const fused = await run(true, x, upstream);
      const reference = await run(false, x, upstream);
      expect([...fused.y]).toEqual([...reference.y]);
      // tfjs multiplies dy by 0 where the ReLU is off (−0 for a negative dy); the fused one writes 0: equal numbers.
      const signless = (a: Float32Array) => Array.from(a, (v) => v + 0);
      expect(signless(fused.dx)).toEqual(signless(reference.dx));
      tf.dispose([x, upstream]);
    });
  }

  it('runs one program each way and saves as tfjs-layers’ ReLU', async () => {
    const x = tf.tensor2d([[-1, 2, 0, 3]]);
    const upstream = tf.onesLike(x);
    await run(true, x, upstream);
    const { byProgram } = await countDispatches(() => run(true, x, upstream));
    expect(byProgram.get('tabclr_relu')).toBe(1);
    expect(byProgram.get('tabclr_relu_grad')).toBe(1);
    // tfjs's Relu and Step are unary programs; none runs.
    expect(byProgram.has('UnaryOpProgram')).toBe(false);
    const layer = relu('saved');
    expect(layer.getClassName()).toBe('ReLU');
    expect(layer.getConfig()).toEqual(tf.layers.reLU({ name: 'saved' }).getConfig());
    tf.dispose([x, upstream]);
  });
});
