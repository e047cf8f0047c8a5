import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig } from './config';
import { createEncoder } from './encoders';
import { checkBufferLimit, largestActivationPerImage } from './memory';

describe('largest buffer of a step', () => {
  it('is the largest layer output of the real encoders', async () => {
    await tf.setBackend('cpu');
    for (const encoder of ['convnet4', 'resnet18'] as const) {
      for (const width of [0.125, 0.5, 1]) {
        const model = { ...defaultTrainConfig(16, 3).model, encoder, width };
        const built = createEncoder(model, 1);
        const largest = Math.max(...built.layers.map((l) => (l.outputShape as number[]).slice(1).reduce((a, b) => a * b, 1)));
        expect(largestActivationPerImage(model)).toBe(largest);
        built.dispose();
      }
    }
  });

  it('refuses what does not fit and names the largest batch and image size that do', () => {
    const model = { ...defaultTrainConfig(128, 3).model, encoder: 'resnet18' as const, width: 1 };
    // 128 × 128 × 64 floats per view: 4 MiB; a batch of 256 needs 2 GiB in one buffer.
    const check = checkBufferLimit(model, 256, 128 * 2 ** 20);
    expect(check.fits).toBe(false);
    expect(check.neededBytes).toBe(2 * 256 * 128 * 128 * 64 * 4);
    expect(check.largestBatch).toBe(16);
    expect(checkBufferLimit(model, check.largestBatch, 128 * 2 ** 20).fits).toBe(true);
    expect(checkBufferLimit({ ...model, imageSize: check.largestImageSize }, 256, 128 * 2 ** 20).fits).toBe(true);
    expect(checkBufferLimit({ ...model, imageSize: check.largestImageSize + 1 }, 256, 128 * 2 ** 20).fits).toBe(false);
    expect(checkBufferLimit(model, 2, 2 ** 20).largestBatch).toBe(0);
  });

  it("counts the loss's 2N × 2N similarity matrix, which large batches of small images make the largest buffer", () => {
    const model = { ...defaultTrainConfig(16, 3).model, encoder: 'convnet4' as const, width: 0.5 };
    // 4096 images: an 8192 × 8192 float matrix is 256 MiB, beyond a 128 MiB limit; the activations are 128 MiB.
    const check = checkBufferLimit(model, 4096, 128 * 2 ** 20);
    expect(check.fits).toBe(false);
    expect(check.neededBytes).toBe(8192 * 8192 * 4);
    expect(checkBufferLimit(model, check.largestBatch, 128 * 2 ** 20).fits).toBe(true);
    expect(checkBufferLimit(model, check.largestBatch + 1, 128 * 2 ** 20).fits).toBe(false);
  });
});
