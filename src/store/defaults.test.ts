import { describe, expect, it } from 'vitest';
import { validateTrainConfig } from '../engine/config';
import type { BackendReport, DatasetSummary } from '../worker/protocol';
import { suggestedSettings } from './defaults';

const sample: DatasetSummary = { name: 's', count: 300, imageSize: 28, channels: 1, classNames: [], labelled: false };
const gpu: BackendReport = { backend: 'webgpu', vendor: 'v', architecture: 'a', device: '', isFallbackAdapter: false, scope: 'w', fallbackReason: null, choice: null, maxBufferBytes: 2 ** 30 };

describe('suggestedSettings', () => {
  it('fits the images: their size and channels, grayscale jitter without saturation or hue', () => {
    const { config, steps } = suggestedSettings(sample, gpu);
    expect(config.model.imageSize).toBe(28);
    expect(config.model.channels).toBe(1);
    expect(config.augment.saturation).toBe(0);
    expect(config.augment.brightness).toBeCloseTo(0.8);
    expect(config.batchSize).toBe(128);
    expect(config.optim.totalSteps).toBe(steps);
    expect(validateTrainConfig(config)).toEqual([]);
  });

  it('never asks for a batch larger than the data set', () => {
    expect(suggestedSettings({ ...sample, count: 50 }, gpu).config.batchSize).toBe(32);
    expect(suggestedSettings({ ...sample, count: 2 }, gpu).config.batchSize).toBe(2);
  });

  it('chooses SimCLR at small batches as at large ones (BENCHMARKS.md: MoCo v2 was nowhere ahead at batch 16 or 32)', () => {
    expect(suggestedSettings(sample, { ...gpu, isFallbackAdapter: true }).config).toMatchObject({ batchSize: 16, method: { name: 'simclr' } });
    expect(suggestedSettings({ ...sample, count: 50 }, gpu).config).toMatchObject({ batchSize: 32, method: { name: 'simclr' } });
    expect(suggestedSettings(sample, gpu).config.method.name).toBe('simclr');
  });

  it('keeps steps short on a software adapter', () => {
    const { config, steps } = suggestedSettings(sample, { ...gpu, isFallbackAdapter: true });
    expect(config.batchSize).toBe(16);
    expect(config.model.width).toBe(0.25);
    expect(steps).toBeLessThan(100);
    // A short run takes larger steps (3e-3 against 1e-3 on a GPU): measured on the sample, BENCHMARKS.md "Defaults".
    expect(config.optim.learningRate).toBe(3e-3);
    expect(suggestedSettings(sample, gpu).config.optim.learningRate).toBe(1e-3);
    expect(validateTrainConfig(config)).toEqual([]);
  });
});

describe('applyPreset', () => {
  it('quick look is small and short; best quality is ResNet-18 with the largest batch the data allows', async () => {
    const { applyPreset } = await import('./defaults');
    const start = suggestedSettings(sample, gpu);
    const quick = applyPreset(start, 'quick', sample, gpu);
    expect(quick.config.model.encoder).toBe('convnet4');
    expect(quick.steps).toBeLessThan(start.steps);
    const quality = applyPreset(start, 'quality', sample, gpu);
    expect(quality.config.model.encoder).toBe('resnet18');
    expect(quality.config.batchSize).toBe(256);
    expect(quality.config.optim.totalSteps).toBe(quality.steps);
    expect(quality.config.augment).toEqual(start.config.augment);
    for (const s of [quick, quality]) expect(validateTrainConfig(s.config)).toEqual([]);
  });
});

describe('settings that fit the device', () => {
  it('halve the batch until its largest buffer fits, and the page names the limit next to the field', async () => {
    const { bufferLimitProblem } = await import('../engine/memory');
    const photos: DatasetSummary = { ...sample, count: 5000, imageSize: 128, channels: 3 };
    // 128 px, resnet18 at full width: 4 MiB per view; a 64 MiB buffer limit holds a batch of 8.
    const small: BackendReport = { ...gpu, maxBufferBytes: 64 * 2 ** 20 };
    const { config } = suggestedSettings(photos, small);
    const quality = (await import('./defaults')).applyPreset({ config, steps: 10 }, 'quality', photos, small);
    expect(quality.config.batchSize).toBe(8);
    expect(bufferLimitProblem(quality.config, small.maxBufferBytes)).toBeNull();
    expect(bufferLimitProblem({ ...quality.config, batchSize: 256 }, small.maxBufferBytes)).toMatch(
      /^batch 256 at 128 px needs 2048 MB in one GPU buffer .* but this GPU allows 64 MB: the largest batch that fits is 8, or images of at most 22 px at batch 256$/,
    );
  });
});
