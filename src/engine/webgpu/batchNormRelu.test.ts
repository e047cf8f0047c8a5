// A batch norm a ReLU follows (batchNormLayer.ts's `rectifies`, as convBnRelu and the head build them) on WebGPU (Dawn
// in Node) against the two layers run one after the other: the same output, moving statistics and gradients bit for
// bit (the same float operations, in the same programs), the ReLU passed through without a program of its own inside
// a model, nothing leaked, the same saved config; and off WebGPU's fused kernels, exactly the plain layers.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { batchNorm, relu } from '../layers';
import { Random } from '../random';

useDawn();

function randomTensor(shape: number[], rng: Random, shift = 0): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => shift + 3 * (rng.next() * 2 - 1)), shape);
}

const bits = async (t: tf.Tensor) => Array.from(new Uint32Array(((await t.data()) as Float32Array).slice().buffer));

/** relu(batch norm(x)) in a model, trained once against `upstream`: every output and gradient as bits. */
async function run(rectifies: boolean, x: tf.Tensor, upstream: tf.Tensor, name: string): Promise<Record<string, number[]>> {
  const input = tf.input({ shape: x.shape.slice(1) });
  const bn = batchNorm(`${name}_bn`, { rectifies });
  const output = relu(`${name}_relu`).apply(bn.apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  const rng = new Random(5);
  const channels = x.shape[x.rank - 1]!;
  const weights = [randomTensor([channels], rng, 1), randomTensor([channels], rng), randomTensor([channels], rng), tf.tidy(() => tf.abs(randomTensor([channels], rng, 2)))];
  bn.setWeights(weights);
  tf.dispose(weights);
  const xv = tf.variable(x, true);
  const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
  let y: tf.Tensor | null = null;
  const { value, grads } = tf.variableGrads(() => {
    y = tf.keep(model.apply(xv, { training: true }) as tf.Tensor);
    return tf.sum(tf.mul(y, upstream)) as tf.Scalar;
  }, [xv, gamma!, beta!]);
  const [, , movingMean, movingVariance] = bn.getWeights();
  const out = {
    y: await bits(y!),
    dx: await bits(grads[xv.name]!),
    dGamma: await bits(grads[gamma!.name]!),
    dBeta: await bits(grads[beta!.name]!),
    movingMean: await bits(movingMean!),
    movingVariance: await bits(movingVariance!),
  };
  tf.dispose([value, y!, xv, ...Object.values(grads)]);
  model.dispose();
  return out;
}

describe('batch norm and the ReLU after it, on WebGPU', () => {
  // Two programs each way (a head's batch), chunks of rows, and the middle pass over groups of chunks.
  const shapes: [number[], number][] = [
    [[32, 96], 0],
    [[8, 6, 6, 16], 0],
    [[20, 40, 40, 2], 50],
  ];
  for (const [shape, shift] of shapes) {
    it(`[${shape}]: the two layers' output, moving statistics and gradients, bit for bit`, async () => {
      const rng = new Random(shape[0]!);
      const x = randomTensor(shape, rng, shift);
      const upstream = randomTensor(shape, rng);
      const reference = await withFusedKernels(true, () => run(false, x, upstream, 'plain'));
      const fused = await withFusedKernels(true, () => run(true, x, upstream, 'rectified'));
      expect(fused).toEqual(reference);
      // Off the fused kernels the flag changes nothing: tfjs-layers' two layers.
      const tfjs = await withFusedKernels(false, () => run(false, x, upstream, 'tfjs_plain'));
      expect(await withFusedKernels(false, () => run(true, x, upstream, 'tfjs_rectified'))).toEqual(tfjs);
      tf.dispose([x, upstream]);
    });
  }

  it('runs no ReLU program inside a model, leaks nothing, and saves the plain config', async () => {
    const rng = new Random(3);
    const x = randomTensor([8, 6, 6, 16], rng);
    const upstream = randomTensor([8, 6, 6, 16], rng);
    await withFusedKernels(true, () => run(true, x, upstream, 'warm'));
    const before = tf.memory().numTensors;
    const rectified = await withFusedKernels(true, () => countDispatches(() => run(true, x, upstream, 'counted')));
    const plain = await withFusedKernels(true, () => countDispatches(() => run(false, x, upstream, 'counted_plain')));
    expect(tf.memory().numTensors).toBe(before);
    expect(rectified.byProgram.has('tabclr_relu')).toBe(false);
    expect(rectified.byProgram.has('tabclr_relu_grad')).toBe(false);
    expect(rectified.byProgram.get('tabclr_bn_normalize_relu')).toBe(1);
    expect(plain.byProgram.get('tabclr_relu')).toBe(1);
    expect(rectified.count).toBe(plain.count - 2);
    expect(batchNorm('saved', { rectifies: true }).getConfig()).toEqual(batchNorm('saved').getConfig());
    tf.dispose([x, upstream]);
  });
});
