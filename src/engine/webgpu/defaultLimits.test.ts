// The engine on a WebGPU device that asked for nothing (requestDevice() with no required limits: 128 MiB per storage
// binding, 256 MiB per buffer), where a browser or a GPU that grants only the defaults leaves it. ResNet-18 at width 1
// with Adam keeps 138 MB of parameters and slots: one buffer of them, as the optimiser made before it cut packs, is a
// validation error, which drops the whole command buffer and leaves the step reading stale buffers. Here a real step
// runs with every buffer recorded and WebGPU's error scopes open: nothing may exceed a limit, nothing may fail
// validation, and the update must be the tfjs optimiser's. Before the packs, this step failed validation ("Binding
// size (138003456) of [Buffer …]": the update's output, every parameter and both slots). On SwiftShader (2 cores)
// the step takes about 28 s, almost all of it compiling ResNet-18's pipelines, and the file about 35 s.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDawn, type Dawn } from '../../../scripts/lib/dawn';
import { maxRelativeDifference, withFusedKernels } from '../../test/dawn';
import { defaultTrainConfig } from '../config';
import { createOptimizer, learningRateAt, type TrainableParam } from '../optim';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { bufferLimitBytes, DEFAULT_BUFFER_LIMITS } from './limits';

let dawn: Dawn | null = null;
let device: GPUDevice | null = null;
/** Every buffer the backend's device made, by size in bytes. */
const created: number[] = [];

beforeAll(async () => {
  dawn = await startDawn();
  // Imported after Dawn has set navigator.gpu: the package registers its backend only if WebGPU exists when it loads.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  // Nothing required: the specification's default limits, whatever the adapter could give.
  device = await adapter!.requestDevice();
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    created.push(descriptor.size);
    return create(descriptor);
  };
  // The fused kernels run on the backend named 'webgpu': put one on this device in its place.
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device!, adapter!.info), 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('the WebGPU backend did not start on the default-limits device');
}, 120_000);

afterAll(async () => {
  await dawn?.stop();
  device?.destroy();
}, 60_000);

describe('a device with the default limits', () => {
  it('has them', () => {
    const backendDevice = (tf.backend() as unknown as { device: GPUDevice }).device;
    expect(backendDevice).toBe(device);
    expect(bufferLimitBytes(backendDevice.limits)).toBe(bufferLimitBytes(DEFAULT_BUFFER_LIMITS));
  });

  it('trains ResNet-18 at width 1 with Adam for a step: packs cut to fit, no buffer past a limit, the tfjs update', async () => {
    const config = defaultTrainConfig(8, 1);
    config.model = { ...config.model, encoder: 'resnet18', width: 1 };
    config.optim = { ...config.optim, optimizer: 'adam' };
    // The smallest run the engine allows: 8 px, a batch of 2.
    config.batchSize = 2;
    const state = await withFusedKernels(true, () => createTrainState(config));
    expect(state.optimizer.constructor.name).toBe('PackedOptimizer');
    expect((state.optimizer as unknown as { packCount: number }).packCount).toBe(2);
    const parameters = state.params.reduce((a, p) => a + p.variable.size, 0);
    expect(12 * parameters).toBeGreaterThan(device!.limits.maxStorageBufferBindingSize);

    // The weights before, as a second set of variables for the tfjs optimiser, and the gradients the step computes.
    const reference: TrainableParam[] = state.params.map((p) => ({ name: p.name, variable: tf.variable(p.variable.clone(), true) }));
    const grads = new Map<string, tf.Tensor>();
    const prepare = state.optimizer.prepare.bind(state.optimizer);
    state.optimizer.prepare = (g) => {
      for (const [name, t] of Object.entries(g)) grads.set(name, tf.keep(t.clone()));
      return prepare(g);
    };
    const batch = tf.tensor4d(syntheticImages(2, 8, 1, 3), [2, 8, 8, 1], 'int32');
    created.length = 0;
    device!.pushErrorScope('validation');
    device!.pushErrorScope('out-of-memory');
    const metrics = await trainStep(state, batch);
    await state.params[0]!.variable.data();
    const outOfMemory = await device!.popErrorScope();
    const invalid = await device!.popErrorScope();
    expect(invalid?.message ?? null).toBeNull();
    expect(outOfMemory?.message ?? null).toBeNull();
    expect(metrics.finite).toBe(true);

    // Every buffer the step made, the optimiser's packs among them, within both limits.
    expect(Math.max(...created)).toBeLessThanOrEqual(bufferLimitBytes(device!.limits));
    // The packs' update outputs: parameters and both slots, up to the limit itself.
    expect(Math.max(...created)).toBeGreaterThan(0.9 * bufferLimitBytes(device!.limits));

    // The tfjs optimiser (a tidy of tfjs ops per parameter, no packing) given the same gradients and learning rate.
    const tfjsAdam = await withFusedKernels(false, () => createOptimizer(reference, config.optim));
    tfjsAdam.apply(Object.fromEntries(grads), learningRateAt(0, config.optim));
    for (const [i, p] of state.params.entries()) {
      const [fused, expected] = await Promise.all([p.variable.data(), reference[i]!.variable.data()]);
      expect(maxRelativeDifference(fused, expected), p.name).toBeLessThan(1e-5);
    }
    const [fusedState, tfjsState] = [await state.optimizer.getState(), await tfjsAdam.getState()];
    fusedState.forEach((s, i) => expect(maxRelativeDifference(s.values, tfjsState[i]!.values), s.name).toBeLessThan(1e-5));

    tfjsAdam.dispose();
    tf.dispose([batch, ...grads.values(), ...reference.map((p) => p.variable)]);
    disposeTrainState(state);
  }, 600_000);
});
