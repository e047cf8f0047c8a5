// The engine's Conv2D layer on WebGPU (Dawn in Node) against tfjs-layers' own: the same output and kernel gradient,
// the same saved config; and a training step computes no gradient with respect to the images.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels } from '../../test/dawn';
import { selfTestConfig } from '../selftest';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { Random } from '../random';
import { EngineConv2D } from './convLayer';

useDawn();

describe('the engine’s Conv2D layer on WebGPU', () => {
  for (const [channels, strides] of [[1, 1], [3, 2], [8, 1]] as const) {
    it(`${channels} input channels, stride ${strides}: tfjs-layers' output and kernel gradient`, async () => {
      const rng = new Random(channels * 10 + strides);
      const x = tf.tensor4d(Float32Array.from({ length: 3 * 9 * 9 * channels }, () => rng.next() * 2 - 1), [3, 9, 9, channels]);
      const args = { filters: 8, kernelSize: 3, strides, padding: 'same' as const, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) };
      const run = async (layer: tf.layers.Layer) =>
        withFusedKernels(true, async () => {
          layer.build(x.shape);
          const kernel = layer.trainableWeights[0]!.read() as tf.Variable;
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar, [kernel]);
          const out = { loss: (await value.data())[0]!, grad: (await grads[kernel.name]!.data()) as Float32Array };
          tf.dispose([value, ...Object.values(grads)]);
          return out;
        });
      const ours = await run(new EngineConv2D({ ...args, name: `ours_${channels}_${strides}` }));
      const theirs = await run(tf.layers.conv2d({ ...args, name: `theirs_${channels}_${strides}` }));
      expect(Math.abs(ours.loss - theirs.loss) / theirs.loss).toBeLessThan(1e-5);
      expect(maxRelativeDifference(ours.grad, theirs.grad)).toBeLessThan(1e-4);
      x.dispose();
    });
  }

  it('saves as tfjs-layers’ Conv2D', () => {
    const args = { name: 'saved', filters: 4, kernelSize: 3, padding: 'same' as const, useBias: false };
    const ours = new EngineConv2D(args);
    expect(ours.getClassName()).toBe('Conv2D');
    expect(ours.getConfig()).toEqual(tf.layers.conv2d(args).getConfig());
  });

  for (const channels of [1, 3] as const) {
    it(`a training step (${channels} channel${channels > 1 ? 's' : ''}) computes no gradient with respect to the images`, async () => {
      const config = selfTestConfig();
      config.model = { ...config.model, channels };
      const { imageSize: s } = config.model;
      const images = tf.tensor4d(syntheticImages(config.batchSize, s, channels, 2), [config.batchSize, s, s, channels], 'int32');
      const state = await withFusedKernels(true, () => createTrainState(config));
      await withFusedKernels(true, () => trainStep(state, images));
      const { byProgram } = await withFusedKernels(true, () => countDispatches(() => trainStep(state, images)));
      const count = (prefix: string) => [...byProgram].filter(([name]) => name.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);
      // convnet4: four convolutions, each with a filter gradient; an input gradient for the three after the first. The
      // three dense layers (the representation, the head's two) run as 1×1 convolutions (denseLayer.ts), each with both.
      const dense = 3;
      if (channels === 1) {
        expect(count('tabclr_conv1ch_input_grad')).toBe(0);
        expect(count('tabclr_conv1ch_filter_grad_partials')).toBe(1);
        expect(count('tabclr_conv_filter_grad_partials')).toBe(3 + dense);
      } else {
        expect(count('tabclr_conv_filter_grad_partials')).toBe(4 + dense);
      }
      expect(count('tabclr_conv_input_grad')).toBe(3 + dense);
      images.dispose();
      disposeTrainState(state);
    });
  }
});
