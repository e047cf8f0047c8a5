// The fused augmentation against ../augment.ts's tfjs ops, on WebGPU (Dawn in Node): the same two views, pixel for
// pixel to float32 tolerance, from the same drawn parameters, for grayscale and colour images, every step on.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { applyView, augmentViews, sampleViewParams, toUnitRange } from '../augment';
import { defaultAugmentConfig, type AugmentConfig, type Channels } from '../config';
import { Random } from '../random';
import { syntheticImages } from '../synthetic';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { fusedAugmentViews } from './augment';

useDawn();

/** Every step on, often: crops, flips, all four jitter ops in random orders, grayscale, blur. */
function everything(size: number, channels: Channels): AugmentConfig {
  return { ...defaultAugmentConfig(size, channels), jitterProb: 0.9, grayscaleProb: channels === 3 ? 0.4 : 0, blurProb: 0.6, blurSigmaMin: 0.3, blurSigmaMax: 2 };
}

async function maxAbsoluteDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

describe('fused augmentation on WebGPU', () => {
  for (const [size, channels, dtype] of [
    [28, 1, 'int32'],
    [32, 3, 'int32'],
    [16, 3, 'float32'],
  ] as const) {
    it(`${size} px, ${channels} channel(s), ${dtype} input: tfjs's views`, async () => {
      const n = 4;
      const pixels = syntheticImages(n, size, channels, size + channels);
      const images =
        dtype === 'int32'
          ? tf.tensor4d(Int32Array.from(pixels), [n, size, size, channels], 'int32')
          : tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [n, size, size, channels]);
      const config = everything(size, channels);
      for (const seed of [1, 2]) {
        const rng = new Random(seed);
        const params = [sampleViewParams(n, size, channels, config, rng), sampleViewParams(n, size, channels, config, rng)] as const;
        const reference = await withFusedKernels(false, () =>
          tf.tidy(() => {
            const unit = toUnitRange(images);
            return tf.concat([applyView(unit, params[0]), applyView(unit, params[1])], 0);
          }),
        );
        const fused = await withFusedKernels(true, () => fusedAugmentViews(images, [params[0], params[1]]));
        expect(fused).not.toBeNull();
        expect(fused!.shape).toEqual([2 * n, size, size, channels]);
        expect(await maxAbsoluteDifference(fused!, reference)).toBeLessThan(2e-5);
        tf.dispose([reference, fused!]);
      }
      images.dispose();
    });
  }

  it('augmentViews draws the parameters as augmentPair does, and makes both views in 2–4 programs', async () => {
    const n = 4;
    const images = tf.tensor4d(Int32Array.from(syntheticImages(n, 32, 3, 5)), [n, 32, 32, 3], 'int32');
    const config = everything(32, 3);
    const reference = await withFusedKernels(false, () => augmentViews(images, config, new Random(9)));
    const { result: fused, count } = await withFusedKernels(true, () => countDispatches(() => augmentViews(images, config, new Random(9))));
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(4);
    expect(await maxAbsoluteDifference(fused, reference)).toBeLessThan(2e-5);
    tf.dispose([images, reference, fused]);
  });
});
