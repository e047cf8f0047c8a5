// A training step with the fused WebGPU kernels (Dawn in Node) makes no tensor of zeros on the CPU: batch norm's
// statistics and NT-Xent's kept intermediates have no dy of their own, and their gradients are told so (tape.ts
// withoutUnusedDys) instead of being handed zeros made for each output, as tfjs-core does.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selfTestConfig } from '../selftest';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { useDawn, withFusedKernels } from '../../test/dawn';

useDawn();

describe('a fused training step on WebGPU', () => {
  it('makes no tensor of zeros for the outputs nothing used', async () => {
    await withFusedKernels(true, async () => {
      const config = selfTestConfig();
      const { imageSize: s, channels: c } = config.model;
      const images = tf.tensor4d(syntheticImages(config.batchSize, s, c, 3), [config.batchSize, s, s, c], 'int32');
      const state = createTrainState(config);
      const engine = tf.engine() as unknown as { makeTensor(values: ArrayLike<number>, shape: number[], dtype: string): tf.Tensor };
      const own = engine.makeTensor;
      const zeros: string[] = [];
      const made: string[] = [];
      engine.makeTensor = function (this: unknown, values, shape, dtype) {
        made.push(`${dtype}[${shape}]`);
        if (values.length > 0 && Array.prototype.every.call(values, (v: number) => v === 0)) zeros.push(`${dtype}[${shape}]`);
        return own.call(this, values, shape, dtype);
      };
      try {
        const m = await trainStep(state, images);
        expect(m.finite).toBe(true);
      } finally {
        engine.makeTensor = own;
        disposeTrainState(state);
        images.dispose();
      }
      // What the step does make on the CPU: the augmentation's parameters and the gradient's seed.
      expect(made.length).toBeGreaterThan(0);
      expect(zeros).toEqual([]);
    });
  }, 120_000);
});
