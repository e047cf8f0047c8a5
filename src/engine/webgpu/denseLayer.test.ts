// The engine's dense layer on WebGPU (Dawn in Node) against the products in float64: output and the gradients of the
// input, the kernel and the bias, at the sizes of every dense layer the engine builds (convnet4's representation at
// widths 0.25 and 1, the heads' layers, ResNet-18's, a head 2048 wide) and at sizes that are not multiples of four, a batch of 1 and an
// odd one; the programs it takes; that it saves as tfjs-layers' Dense; and tfjs's layer where it does not apply.
//
// Not against tfjs-layers' layer on WebGPU: tfjs-webgpu 4.22's own matMul(dy, kernel, false, true), the input gradient
// it computes, is wrong at 8 rows or fewer with 2048 columns (a layer of 2048 units, as BYOL's projector has at a
// projection of 512, at a batch of 4 or less: errors of 30–40 where the values are about 1; right at 14 rows, and at
// 1024 columns).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels, withLimitPerProgram } from '../../test/dawn';
import { Random } from '../random';
import { EngineDense } from './denseLayer';

useDawn();

type DenseArgs = Parameters<typeof tf.layers.dense>[0];

/** The layer's output and gradients for x, kernel and bias (when it has one) under an upstream gradient. */
async function run(layer: tf.layers.Layer, x: tf.Tensor2D, weights: tf.Tensor[], upstream: tf.Tensor2D) {
  layer.build(x.shape);
  layer.setWeights(weights);
  const xv = tf.variable(x, true);
  const trainable = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  let y: tf.Tensor | null = null;
  const { value, grads } = tf.variableGrads(() => {
    y = tf.keep(layer.apply(xv) as tf.Tensor);
    return tf.sum(tf.mul(y, upstream)) as tf.Scalar;
  }, [xv, ...trainable]);
  const read = async (t: tf.Tensor) => (await t.data()) as Float32Array;
  const out = {
    y: await read(y!),
    shape: y!.shape,
    grads: await Promise.all([xv, ...trainable].map((v) => read(grads[v.name]!))),
  };
  tf.dispose([value, y!, xv, ...Object.values(grads)]);
  for (const w of layer.weights) w.dispose();
  return out;
}

/** y = x·w + b, and under an upstream gradient u: dx = u·wᵀ, dw = xᵀ·u, db = Σ rows of u; in float64. */
async function products(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, u: tf.Tensor) {
  const [rows, inputs] = x.shape as [number, number];
  const units = w.shape[1]!;
  const [X, W, U] = (await Promise.all([x.data(), w.data(), u.data()])) as Float32Array[];
  const B = b ? ((await b.data()) as Float32Array) : new Float32Array(units);
  const y = new Float64Array(rows * units);
  const dx = new Float64Array(rows * inputs);
  const dw = new Float64Array(inputs * units);
  const db = new Float64Array(units);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < units; c++) {
      const g = U![r * units + c]!;
      let sum = B[c]!;
      for (let k = 0; k < inputs; k++) {
        sum += X![r * inputs + k]! * W![k * units + c]!;
        dx[r * inputs + k] += g * W![k * units + c]!;
        dw[k * units + c] += X![r * inputs + k]! * g;
      }
      y[r * units + c] = sum;
      db[c] += g;
    }
  }
  return { y, dx, dw, db };
}

const random = (shape: number[], rng: Random) =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1), shape);

// [rows, inputs, units]: convnet4's representation (width 0.25: 64 → 64; width 1: 256 → 256) and head layers, a head
// 4·d wide on ResNet-18's 512 (BYOL's projector at d = 512: 512 → 2048 → 512; then 2048 → 128), sizes not a multiple of
// 4, a batch of 1 (2 rows: SimCLR's two views) and odd ones.
const SIZES: [number, number, number][] = [
  [32, 64, 64],
  [2, 256, 256],
  [7, 512, 2048],
  [64, 2048, 128],
  [3, 5, 7],
  [1, 6, 3],
  [33, 10, 18],
  // Rows enough (a batch of 256) that the kernel's and the bias's gradients split them into chunks.
  [512, 64, 32],
];

describe('the engine’s dense layer on WebGPU', () => {
  for (const [rows, inputs, units] of SIZES) {
    for (const useBias of [true, false]) {
      it(`${rows} × ${inputs} → ${units}${useBias ? ' with a bias' : ''}: the output and gradients of the products in float64`, async () => {
        const rng = new Random(rows * 1000 + inputs + units);
        const x = random([rows, inputs], rng) as tf.Tensor2D;
        const upstream = random([rows, units], rng) as tf.Tensor2D;
        const weights = [random([inputs, units], rng), ...(useBias ? [random([units], rng)] : [])];
        const args: DenseArgs = { units, useBias };
        const ours = await withFusedKernels(true, () => run(new EngineDense({ ...args, name: `ours_${rows}_${inputs}_${units}_${useBias}` }), x, weights, upstream));
        const exact = await products(x, weights[0]!, useBias ? weights[1]! : null, upstream);
        expect(ours.shape).toEqual([rows, units]);
        expect(ours.grads).toHaveLength(useBias ? 3 : 2);
        // float32 sums of up to 2048 products against float64 ones.
        expect(maxRelativeDifference(ours.y, exact.y)).toBeLessThan(1e-4);
        expect(maxRelativeDifference(ours.grads[0]!, exact.dx)).toBeLessThan(1e-4);
        expect(maxRelativeDifference(ours.grads[1]!, exact.dw)).toBeLessThan(1e-4);
        if (useBias) expect(maxRelativeDifference(ours.grads[2]!, exact.db)).toBeLessThan(1e-4);
        tf.dispose([x, upstream, ...weights]);
      });
    }
  }

  it('takes the engine’s programs each way, none of tfjs’s', async () => {
    const rng = new Random(5);
    const x = random([16, 32], rng);
    const layer = new EngineDense({ units: 24, name: 'counted' });
    layer.build(x.shape);
    const xv = tf.variable(x);
    const { byProgram } = await withFusedKernels(true, () =>
      countDispatches(async () => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(xv) as tf.Tensor)), [xv, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)]);
        await Promise.all(Object.values(grads).map((g) => g.data()));
        tf.dispose([value, ...Object.values(grads)]);
      }),
    );
    xv.dispose();
    const programs = [...byProgram.keys()];
    // (The loss around it, a sum of squares, is tfjs's.)
    expect(programs.filter((p) => p.startsWith('MatMul'))).toEqual([]);
    expect(programs.filter((p) => p.startsWith('tabclr_')).sort()).toEqual(
      ['tabclr_conv_forward_x4_w4', 'tabclr_dense_bias', 'tabclr_conv_input_grad_dy4', 'tabclr_conv_filter_grad_partials_x4_dy4', 'tabclr_dense_bias_grad_partials'].sort(),
    );
    x.dispose();
    for (const w of layer.weights) w.dispose();
  });

  it('spread past the workgroup limit, gives the flat dispatch’s numbers', async () => {
    // Rows enough that the bias gradient takes both its passes (3 chunks), each of more than two workgroups.
    const rng = new Random(9);
    const x = random([300, 40], rng) as tf.Tensor2D;
    const upstream = random([300, 200], rng) as tf.Tensor2D;
    const weights = [random([40, 200], rng), random([200], rng)];
    const once = () => withFusedKernels(true, () => run(new EngineDense({ units: 200, name: `spread_${Math.random()}` }), x, weights, upstream));
    const flat = await once();
    const { result: spread, spread: names } = await withLimitPerProgram(once);
    expect(names).toEqual(expect.arrayContaining(['tabclr_dense_bias', 'tabclr_dense_bias_grad_partials', 'tabclr_conv_filter_grad_sum']));
    expect(spread.y).toEqual(flat.y);
    spread.grads.forEach((g, i) => expect(g).toEqual(flat.grads[i]));
    tf.dispose([x, upstream, ...weights]);
  });

  it('saves as tfjs-layers’ Dense', () => {
    const args = { name: 'saved', units: 8, useBias: true };
    const ours = new EngineDense(args);
    expect(ours.getClassName()).toBe('Dense');
    expect(ours.getConfig()).toEqual(tf.layers.dense(args).getConfig());
  });

  it('is tfjs-layers’ layer with an activation, and on the CPU backend', async () => {
    const rng = new Random(3);
    const x = random([4, 6], rng) as tf.Tensor2D;
    const upstream = random([4, 5], rng) as tf.Tensor2D;
    const weights = [random([6, 5], rng), random([5], rng)];
    const args: DenseArgs = { units: 5, activation: 'relu' };
    const { result: ours, byProgram } = await withFusedKernels(true, () =>
      countDispatches(() => run(new EngineDense({ ...args, name: 'relu_ours' }), x, weights, upstream)),
    );
    expect(byProgram.has('tabclr_dense_bias')).toBe(false);
    const theirs = await withFusedKernels(true, () => run(tf.layers.dense({ ...args, name: 'relu_theirs' }), x, weights, upstream));
    expect(ours.y).toEqual(theirs.y);
    ours.grads.forEach((g, i) => expect(g).toEqual(theirs.grads[i]));
    tf.dispose([x, upstream, ...weights]);
  });
});
