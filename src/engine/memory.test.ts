import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type TrainConfig } from './config';
import { createEncoder } from './encoders';
import { bufferLimitProblem, checkBufferLimit, largestActivationPerImage, trainedWeightShapes } from './memory';
import { defaultMethodConfig, METHOD_NAMES } from './methods';
import { createNetwork, disposeNetwork, trainableParams } from './model';
import { OPTIMIZER_SLOTS } from './optim';
import { CHUNK, SLOT_COUNT } from './webgpu/packing';
import { bufferLimitBytes, DEFAULT_BUFFER_LIMITS } from './webgpu/limits';

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

  it("counts MoCo's placement of the 2N new keys in its queue (2N × K), and says so", () => {
    const model = { ...defaultTrainConfig(32, 3).model, encoder: 'convnet4' as const, width: 0.25 };
    const limit = 128 * 2 ** 20;
    const method = { ...defaultMethodConfig('moco'), queueSize: 65_536 };
    // Batch 256: 512 × 65,536 floats are exactly 128 MiB; batch 257 is one row too many, which the activations
    // alone (a few MiB at this size) would let through.
    expect(checkBufferLimit(model, 256, limit, { method }).fits).toBe(true);
    const check = checkBufferLimit(model, 257, limit, { method });
    expect(check).toMatchObject({ fits: false, neededBytes: 4 * 514 * 65_536, neededByMethod: true, largestBatch: 256, largestImageSize: 0 });
    expect(checkBufferLimit(model, 257, limit).fits).toBe(true);
    expect(bufferLimitProblem({ model, batchSize: 257, method }, limit)).toBe(
      'batch 257 with a queue of 65,536 keys needs 129 MB in one GPU buffer (the 2N new keys placed in the queue), but this GPU allows 128 MB: the largest batch that fits is 256, or a smaller queue',
    );
    // SimCLR at the same batch has no such buffer.
    expect(checkBufferLimit(model, 257, limit, { method: defaultMethodConfig('simclr') }).fits).toBe(true);
  });
});

describe('buffers that do not grow with the batch', () => {
  const MiB = 2 ** 20;
  const defaultLimit = bufferLimitBytes(DEFAULT_BUFFER_LIMITS);

  it('knows every trained weight of the real networks, for every method, encoder and head', async () => {
    await tf.setBackend('cpu');
    for (const name of METHOD_NAMES) {
      for (const encoder of ['convnet4', 'resnet18'] as const) {
        for (const [width, headLayers, headHidden, entropyWeight] of [
          [0.25, 2, 'atLeastProjection', 0],
          [0.5, 3, 'representation', 0.1],
        ] as const) {
          const config = defaultTrainConfig(16, 3);
          config.method = defaultMethodConfig(name);
          config.model = { ...config.model, encoder, width, headLayers, headHidden, entropyWeight, projectionDim: 24, entropyClusters: 5 };
          const network = createNetwork(config);
          const real = trainableParams(network).map((p) => p.variable.shape.join('×'));
          // The optimiser's packing does not depend on the order, only on the sizes.
          expect(trainedWeightShapes(config).map((s) => s.join('×')).sort(), `${name} ${encoder} ${width}`).toEqual(real.sort());
          disposeNetwork(network);
        }
      }
    }
  });

  it('has the slot counts of the optimisers', () => {
    for (const [name, slots] of Object.entries(OPTIMIZER_SLOTS)) expect(SLOT_COUNT[name as keyof typeof SLOT_COUNT]).toBe(slots.length);
  });

  const resnet = (width: number, optimizer: TrainConfig['optim']['optimizer'] = 'adam'): TrainConfig => {
    const config = defaultTrainConfig(32, 3);
    config.model = { ...config.model, encoder: 'resnet18', width };
    config.optim = { ...config.optim, optimizer };
    return config;
  };

  it('ResNet-18 at width 1 with Adam fits a device that asked for nothing: the optimiser cuts its 138 MB into packs', () => {
    const config = resnet(1);
    const sizes = trainedWeightShapes(config).map((s) => s.reduce((a, b) => a * b, 1));
    const packed = sizes.reduce((a, n) => a + Math.ceil(n / CHUNK) * CHUNK, 0);
    // One buffer of parameters and both slots, as the optimiser made before it cut packs, is past 128 MiB.
    expect(4 * 3 * packed).toBeGreaterThan(defaultLimit);
    expect(4 * 3 * packed).toBeGreaterThan(138e6);
    const check = checkBufferLimit(config.model, 256, defaultLimit, config);
    expect(check.fits).toBe(true);
    expect(check.fixed.what).toBe('the optimiser’s packed parameters and slots');
    expect(check.fixed.bytes).toBeLessThanOrEqual(defaultLimit);
    expect(check.fixed.bytes).toBeGreaterThan(defaultLimit - 4 * 3 * CHUNK);
    expect(bufferLimitProblem({ ...config, batchSize: 256 }, defaultLimit)).toBeNull();
    // The batch still decides where activations grow: the same largest batch as the activations alone give.
    expect(check.largestBatch).toBe(checkBufferLimit(config.model, 256, defaultLimit).largestBatch);
  });

  it('refuses at any batch a weight that no buffer holds, and says which', () => {
    // Width 4: the last stage's 3 × 3 × 2048 × 2048 kernel is 144 MiB.
    const wide = resnet(4);
    const check = checkBufferLimit(wide.model, 2, defaultLimit, wide);
    expect(check).toMatchObject({ fits: false, largestBatch: 0, largestImageSize: 0 });
    expect(check.fixed).toEqual({ bytes: 4 * 9 * 2048 * 2048, what: 'the largest weight (3 × 3 × 2048 × 2048)' });
    expect(bufferLimitProblem({ ...wide, batchSize: 2 }, defaultLimit)).toBe(
      'the largest weight (3 × 3 × 2048 × 2048) needs 144 MB in one GPU buffer at any batch, but this GPU allows 128 MB: no batch fits; a smaller width or projection does',
    );
    // The encoder alone (what the page's suggested settings check) already knows it.
    expect(checkBufferLimit(wide.model, 2, defaultLimit).largestBatch).toBe(0);
    // With 256 MiB it fits, and the optimiser's packs of 2048² × 9 × 3 floats do too.
    expect(checkBufferLimit(wide.model, 2, 256 * MiB, wide).fits).toBe(true);
    // BYOL's projector and predictor at the largest projection: 16384 × 4096 floats (the first of them named).
    const byol = { ...resnet(1), method: defaultMethodConfig('byol') };
    byol.model.projectionDim = 4096;
    expect(checkBufferLimit(byol.model, 2, defaultLimit, byol).fixed).toEqual({ bytes: 4 * 4096 * 16384, what: 'the largest weight (16384 × 4096)' });
  });
});
