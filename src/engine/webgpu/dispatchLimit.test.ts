// Every fused program on tfjs-webgpu's index path for a dispatch past the device's workgroup limit (tfjs spreads a
// flat dispatch of more than maxComputeWorkgroupsPerDimension workgroups over x and y, and the shader then takes its
// index from the workgroup id): whole training steps, colour with every augmentation on and grayscale, each program
// dispatched under a limit lowered to √(its workgroups), against the same steps dispatched flat; then batch norm's
// direct programs and the optimiser's sums at sizes where they have more than two workgroups. What stays one or two
// workgroups at any size a run reaches (the single-invocation means of NT-Xent and the collapse statistic) has
// nothing to spread. Kernel files test their own arithmetic against tfjs; conv2dGemm.test.ts also makes one real
// dispatch of more than 65,535 workgroups.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type Channels } from '../config';
import { selfTestConfig } from '../selftest';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { maxRelativeDifference, useDawn, withFusedKernels, withLimitPerProgram } from '../../test/dawn';
import { batchNorm } from '../layers';
import { createOptimizer, type TrainableParam } from '../optim';
import { Random } from '../random';

useDawn();

/** Two steps of a small run; the metrics and every weight after them. */
async function twoSteps(channels: Channels, spread: boolean): Promise<{ numbers: number[]; weights: Float32Array[]; spread: string[] }> {
  return withFusedKernels(true, async () => {
    const config = selfTestConfig();
    config.model = { ...config.model, channels, imageSize: 16 };
    config.augment = { ...defaultTrainConfig(16, channels).augment, blurProb: 0.5, jitterProb: 1 };
    const images = tf.tensor4d(syntheticImages(config.batchSize, 16, channels, 5), [config.batchSize, 16, 16, channels], 'int32');
    const state = createTrainState(config);
    const run = async () => {
      const numbers: number[] = [];
      for (let i = 0; i < 2; i++) {
        const m = await trainStep(state, images);
        numbers.push(m.loss, m.embeddingStd, m.gradNorm, ...Object.values(m.diagnostics));
      }
      return numbers;
    };
    let numbers: number[];
    let names: string[] = [];
    if (spread) {
      const out = await withLimitPerProgram(run);
      numbers = out.result;
      names = out.spread;
    } else {
      numbers = await run();
    }
    const weights = await Promise.all(state.params.map(async (p) => (await p.variable.data()) as Float32Array));
    images.dispose();
    disposeTrainState(state);
    return { numbers, weights, spread: [...new Set(names)].sort() };
  });
}

describe('the fused programs past the workgroup limit', () => {
  for (const channels of [3, 1] as const) {
    it(`a training step (${channels === 3 ? 'colour' : 'grayscale'}) spread over x and y equals the flat one`, async () => {
      const flat = await twoSteps(channels, false);
      const spread = await twoSteps(channels, true);
      // Every kind of program of the step with more than two workgroups: augmentation, convolutions, batch norm with
      // the ReLU after it (batchNormLayer.ts's rectifies), pooling, NT-Xent, the collapse statistic, the optimiser.
      const expected = [
        'tabclr_augment_pixels',
        'tabclr_augment_row_sums',
        'tabclr_augment_blur_x',
        'tabclr_augment_blur_y',
        'tabclr_bn_normalize_relu',
        'tabclr_bn_grad_input_relu',
        'tabclr_bn_moments_partials',
        'tabclr_bn_grad_partials_relu',
        'tabclr_spatial_mean_grad',
        'tabclr_ntxent_unit',
        'tabclr_ntxent_logits',
        'tabclr_ntxent_grad_unit',
        'tabclr_ntxent_grad_input',
        'tabclr_optim_update_adam',
      ];
      for (const name of expected) expect(spread.spread, `${name} in ${spread.spread.join(', ')}`).toContain(name);
      expect(spread.spread.some((n) => n.startsWith('tabclr_conv'))).toBe(true);
      expect(maxRelativeDifference(spread.numbers, flat.numbers)).toBeLessThan(1e-5);
      spread.weights.forEach((w, i) => expect(maxRelativeDifference(w, flat.weights[i]!), `weight ${i}`).toBeLessThan(1e-5));
    });
  }

  it('batch norm of a small layer with many channels spreads too', async () => {
    const rng = new Random(3);
    const x = tf.tensor2d(Float32Array.from({ length: 32 * 320 }, () => rng.next() * 2 - 1), [32, 320]);
    const once = async () =>
      withFusedKernels(true, async () => {
        const layer = batchNorm('spread_bn');
        layer.build(x.shape);
        const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, [gamma!, beta!]);
        const out = [(await value.data())[0]!, ...((await grads[gamma!.name]!.data()) as Float32Array), ...((await grads[beta!.name]!.data()) as Float32Array)];
        tf.dispose([value, ...Object.values(grads)]);
        for (const w of layer.weights) w.dispose();
        return out;
      });
    const flat = await once();
    const { result, spread } = await withLimitPerProgram(once);
    expect(spread).toEqual(expect.arrayContaining(['tabclr_bn_moments_direct', 'tabclr_bn_grad_direct']));
    expect(maxRelativeDifference(result, flat)).toBeLessThan(1e-5);
    x.dispose();
  });

  it('the optimiser’s partial sums and update for a model of 200,000 parameters spread too', async () => {
    const shapes: [string, number[]][] = [
      ['big/kernel', [400, 500]],
      ['big/bias', [500]],
    ];
    const once = async () =>
      withFusedKernels(true, async () => {
        const rng = new Random(4);
        const values = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (rng.next() * 2 - 1));
        const ps: TrainableParam[] = shapes.map(([name, shape]) => ({ name, variable: tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b, 1)), shape), true) }));
        const opt = createOptimizer(ps, { optimizer: 'adam', learningRate: 0.1, momentum: 0.9, weightDecay: 0.05, warmupSteps: 0, totalSteps: 10 });
        const grads = Object.fromEntries(ps.map((p) => [p.name, tf.tensor(values(p.variable.size, 0.5), p.variable.shape)]));
        const prepared = opt.prepare(grads);
        const norm = (await prepared.gradNorm.data())[0]!;
        prepared.apply(0.05);
        prepared.dispose();
        const out = [norm, ...(await Promise.all(ps.map(async (p) => Array.from((await p.variable.data()) as Float32Array)))).flat()];
        tf.dispose(Object.values(grads));
        opt.dispose();
        for (const p of ps) p.variable.dispose();
        return out;
      });
    const flat = await once();
    const { result, spread } = await withLimitPerProgram(once);
    expect(spread).toEqual(expect.arrayContaining(['tabclr_optim_partials', 'tabclr_optim_update_adam']));
    expect(maxRelativeDifference(result, flat)).toBeLessThan(1e-5);
  });
});
