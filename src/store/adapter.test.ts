import { describe, expect, it } from 'vitest';
import type { BackendReport, DatasetSummary } from '../worker/protocol';
import { slowAdapterAdvice } from './adapter';
import { suggestedSettings } from './defaults';

const swiftshader: BackendReport = { backend: 'webgpu', vendor: 'google', architecture: 'swiftshader', device: '', isFallbackAdapter: true, scope: 'w', fallbackReason: null, choice: 'chosen over WebGL', maxBufferBytes: 2 ** 28 };
const sample: DatasetSummary = { name: 's', count: 300, imageSize: 28, channels: 1, classNames: [], labelled: false };

describe('slowAdapterAdvice', () => {
  it('says nothing on a hardware adapter', () => {
    expect(slowAdapterAdvice({ ...swiftshader, isFallbackAdapter: false }, sample)).toBeNull();
    expect(slowAdapterAdvice(null, sample)).toBeNull();
  });

  it('on a software adapter, sets the run suggested here against the one suggested on a GPU, from the same defaults', () => {
    const advice = slowAdapterAdvice(swiftshader, sample)!;
    expect(advice.adapter).toBe('google swiftshader');
    const here = suggestedSettings(sample, swiftshader);
    const gpu = suggestedSettings(sample, { ...swiftshader, isFallbackAdapter: false });
    expect(advice.here).toEqual({ encoder: here.config.model.encoder, width: here.config.model.width, batchSize: here.config.batchSize, steps: here.steps });
    expect(advice.onGpu).toEqual({ encoder: gpu.config.model.encoder, width: gpu.config.model.width, batchSize: gpu.config.batchSize, steps: gpu.steps });
    // What a GPU changes: a bigger run.
    expect(advice.onGpu.batchSize * advice.onGpu.steps).toBeGreaterThan(advice.here.batchSize * advice.here.steps);
  });

  it('speaks of the sample set before any images are loaded', () => {
    expect(slowAdapterAdvice(swiftshader, null)!.here.steps).toBe(suggestedSettings(sample, swiftshader).steps);
  });
});
