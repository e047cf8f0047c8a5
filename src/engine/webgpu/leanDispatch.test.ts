// The lean dispatch path (leanDispatch.ts) on WebGPU (Dawn in Node) against tfjs-webgpu's own: the same uniform bytes
// as tfjs writes, the same results bit for bit for the engine's programs forward and back, a cache bounded and keyed
// by what changes the uniforms, tfjs's path while kernels are timed, and tensors and buffers flat across repeats.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { useDawn, withFusedKernels, withLeanDispatch } from '../../test/dawn';
import { batchNorm, relu } from '../layers';
import { Random } from '../random';
import { guard, kernelProgram, runKernelOnTensors, shaderKeyOf, UniformList } from './kernelBuilder';
import { fusedNtXent } from './ntXent';
import { DispatchCache, dispatchCacheOf, dispatchSignature, installLeanDispatch, uniformBytes } from './leanDispatch';
import { fusedBackend, placeOnGPU, PreferredBuffers, type ProgramUniform } from './programs';
import { selfTestConfig } from '../selftest';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';

useDawn();

function randomTensor(shape: number[], rng: Random): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  // Zeros among them, where ReLU's gradient is decided by its sign.
  return tf.tensor(Float32Array.from({ length: size }, (_, i) => (i % 7 === 0 ? 0 : 3 * (rng.next() * 2 - 1))), shape);
}

/** Counts the bind groups the device makes (on either path) until restore(). */
function countBindGroups(device: GPUDevice): { made(): number; restore(): void } {
  const proto = Object.getPrototypeOf(device) as GPUDevice;
  const create = proto.createBindGroup;
  let made = 0;
  proto.createBindGroup = function (this: GPUDevice, ...args: Parameters<GPUDevice['createBindGroup']>) {
    made++;
    return create.apply(this, args);
  };
  return { made: () => made, restore: () => void (proto.createBindGroup = create) };
}

/** A flat program over 6 values of X: result[index] = expression, with the uniforms declared. */
const sixValues = (name: string, uniforms: string, expression: string) =>
  kernelProgram({ name, inputs: [{ name: 'X' }], outputSize: 6, uniforms, invocations: 6, serialLoop: 1, body: `${guard('index', '6')}\n  result[index] = ${expression};` });

const backend = () => {
  const b = fusedBackend();
  if (!b) throw new Error('no fused WebGPU backend');
  installLeanDispatch(b);
  return b;
};

/** Two convolution-shaped blocks (batch norm, ReLU) and NT-Xent, forward and back: every value as bits. */
async function block(seed: number): Promise<Uint32Array[]> {
  return withFusedKernels(true, async () => {
    const rng = new Random(seed);
    const x = randomTensor([4, 6, 6, 8], rng);
    const bn = batchNorm(`lean_bn_${seed}`);
    const act = relu(`lean_relu_${seed}`);
    bn.build(x.shape);
    const xv = tf.variable(x, true);
    const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const y = act.apply(bn.apply(xv, { training: true }), { training: true }) as tf.Tensor;
      const z = tf.reshape(y, [8, 144]);
      const { loss, contrastiveAcc } = fusedNtXent(z as tf.Tensor2D, 0.5)!;
      contrastiveAcc.dispose();
      return tf.add(loss, tf.mul(tf.sum(y), 1e-3)) as tf.Scalar;
    }, [xv, gamma!, beta!]);
    const out = [value, grads[xv.name]!, grads[gamma!.name]!, grads[beta!.name]!, ...bn.getWeights().slice(2)];
    const bits = await Promise.all(out.map(async (t) => new Uint32Array(((await t.data()) as Float32Array).slice().buffer)));
    tf.dispose([value, xv, x, ...Object.values(grads)]);
    for (const w of bn.weights) w.dispose();
    return bits;
  });
}

describe('lean dispatch on WebGPU', () => {
  it('writes the uniform bytes tfjs-webgpu writes', async () => {
    const b = backend() as unknown as { queue: GPUQueue };
    const size = 37;
    const program = () =>
      kernelProgram({
        name: 'lean_uniform_probe',
        inputs: [{ name: 'A' }, { name: 'B' }],
        outputSize: size,
        uniforms: 'size : i32, scale : f32, skip : i32,',
        invocations: size,
        serialLoop: 1,
        body: `${guard('index', 'uniforms.size')}\n  result[index] = A[index] * uniforms.scale + B[index % 5];`,
      });
    const uniforms: ProgramUniform[] = [
      { type: 'int32', data: [size] },
      { type: 'float32', data: [-0] },
      { type: 'int32', data: [-3] },
    ];
    // Uploaded before the writes are watched (an upload is a write too).
    const a = tf.range(0, size);
    const c = tf.range(0, 5);
    for (const t of [a, c]) fusedBackend()!.uploadToGPU(t.dataId);
    const written: Uint8Array[] = [];
    const write = b.queue.writeBuffer;
    b.queue.writeBuffer = function (this: GPUQueue, ...args: Parameters<GPUQueue['writeBuffer']>) {
      const [, , data, offset, length] = args;
      written.push(new Uint8Array((data as ArrayBuffer).slice(offset ?? 0, (offset ?? 0) + (length ?? (data as ArrayBuffer).byteLength))));
      return write.apply(this, args);
    } as GPUQueue['writeBuffer'];
    try {
      await withLeanDispatch(false, () => runKernelOnTensors(fusedBackend()!, program(), [a, c], uniforms).dispose());
    } finally {
      b.queue.writeBuffer = write;
    }
    expect(written).toHaveLength(1);
    expect(new Uint8Array(uniformBytes([size, 5], size, uniforms))).toEqual(written[0]);
    tf.dispose([a, c]);
  });

  it('gives the same results as tfjs’s path, bit for bit, and takes the lean path from the second run', async () => {
    const cache = dispatchCacheOf(backend());
    const reference = await withLeanDispatch(false, () => block(3));
    const before = cache.recorded;
    await block(3);
    const lean = await block(3);
    expect(cache.recorded - before).toBeGreaterThan(10);
    expect(lean).toEqual(reference);
  });

  it('keeps tensors and GPU memory flat across repeats', async () => {
    await block(5);
    await block(5);
    const tensors = tf.memory().numTensors;
    const bytes = (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU;
    for (let i = 0; i < 3; i++) await block(5);
    expect(tf.memory().numTensors).toBe(tensors);
    expect((tf.memory() as { numBytesInGPU?: number }).numBytesInGPU).toBe(bytes);
  });

  it('leaves the dispatches tfjs times to tfjs (tf.profile still names every program)', async () => {
    const cache = dispatchCacheOf(backend());
    await block(7);
    const before = cache.recorded;
    const profile = await tf.profile(() => {
      const x = tf.tensor1d([-1, 0, 2, -3]);
      const y = relu('lean_profiled').apply(x) as tf.Tensor;
      x.dispose();
      return y;
    });
    expect(cache.recorded).toBe(before);
    expect(profile.kernelNames).toContain('TabclrRelu');
    tf.dispose(profile.result as tf.Tensor);
  });

  it('takes the lean path for uniforms new at every run (as the optimizer’s)', async () => {
    const b = backend();
    const cache = dispatchCacheOf(b);
    const scaled = () => sixValues('lean_scaled', 'scale : f32,', 'uniforms.scale * X[index]');
    const x = tf.range(0, 6);
    const before = cache.recorded;
    for (let run = 1; run <= 5; run++) {
      const y = runKernelOnTensors(b, scaled(), [x], [{ type: 'float32', data: [run / 4] }]);
      expect([...(await y.data())]).toEqual(Array.from({ length: 6 }, (_, i) => (run / 4) * i));
      y.dispose();
    }
    // The first run compiles through tfjs; the other four, each with new uniforms, are lean.
    expect(cache.recorded - before).toBe(4);
    x.dispose();
  });

  it('rewrites a slot’s uniforms for uniforms new at every run, never one a command still to be submitted reads', async () => {
    const b = backend();
    const device = b.device;
    const scaled = () => sixValues('lean_slot_scaled', 'scale : f32, shift : f32,', 'uniforms.scale * X[index] + uniforms.shift');
    const x = tf.range(0, 6);
    const expected = (run: number) => Array.from({ length: 6 }, (_, i) => Math.fround(run / 8) * i + run);
    const run = (k: number) => runKernelOnTensors(b, scaled(), [x], [{ type: 'float32', data: [k / 8] }, { type: 'float32', data: [k] }]);
    const pool = (b as unknown as { bufferManager: { numUsedBuffers: number } }).bufferManager;
    const groups = countBindGroups(device);
    try {
      // Runs read back one at a time (each submitted before the next is recorded): past the first few, one slot serves.
      let k = 1;
      for (; k <= 12; k++) {
        const y = run(k);
        expect([...(await y.data())]).toEqual(expected(k));
        y.dispose();
      }
      const madeAfterWarmUp = groups.made();
      const used = pool.numUsedBuffers;
      for (; k <= 24; k++) {
        const y = run(k);
        expect([...(await y.data())]).toEqual(expected(k));
        y.dispose();
      }
      // No bind group and no buffer more: the slot's group is found again for the output's buffer.
      expect(groups.made() - madeAfterWarmUp).toBeLessThanOrEqual(1);
      expect(pool.numUsedBuffers).toBe(used);
      // Each set of uniforms is still remembered, should it recur.
      const uniformsOf = (k: number): ProgramUniform[] => [{ type: 'float32', data: [k / 8] }, { type: 'float32', data: [k] }];
      expect(dispatchCacheOf(b).has(dispatchSignature(shaderKeyOf('lean_slot_scaled'), ['float32'], [6], 6, uniformsOf(24)))).toBe(true);
      // Runs recorded in one encoder before any is submitted: each keeps its own uniforms (a slot apiece while there
      // are slots, then tfjs's way), none rewritten under a command that will read it.
      const ys = Array.from({ length: 7 }, (_, i) => run(100 + i));
      const values = await Promise.all(ys.map((y) => y.data()));
      values.forEach((v, i) => expect([...v]).toEqual(expected(100 + i)));
      tf.dispose(ys);
    } finally {
      groups.restore();
      x.dispose();
    }
  });

  it('stays correct past its capacity, releasing what it evicts', async () => {
    const b = backend();
    const cache = dispatchCacheOf(b);
    const capacity = cache.capacity;
    cache.capacity = 2;
    const SIZES = new UniformList(['size'] as const);
    const double = (size: number) =>
      kernelProgram({
        name: 'lean_double',
        inputs: [{ name: 'X' }],
        outputSize: size,
        uniforms: SIZES.declaration,
        invocations: size,
        serialLoop: 1,
        body: `${guard('index', 'uniforms.size')}\n  result[index] = 2.0 * X[index];`,
      });
    try {
      for (let round = 0; round < 3; round++) {
        for (const size of [3, 5, 8, 13]) {
          const x = tf.range(0, size);
          const y = runKernelOnTensors(b, double(size), [x], SIZES.values({ size }));
          expect([...(await y.data())]).toEqual(Array.from({ length: size }, (_, i) => 2 * i));
          expect(cache.size).toBeLessThanOrEqual(2);
          tf.dispose([x, y]);
        }
      }
    } finally {
      cache.capacity = capacity;
    }
  });
});

describe('buffers kept from step to step', () => {
  const bufferOf = (t: tf.Tensor) => (fusedBackend()!.tensorMap.get(t.dataId)!.resource as GPUBuffer);

  it('a tensor made with the buffers it had before gets the one of them that is free, where the pool would hand out another', async () => {
    const b = fusedBackend()!;
    const made = () => {
      const info = b.makeTensorInfo([96], 'float32');
      return info;
    };
    // Three buffers of one size freed in turn: the pool hands out the last freed.
    const first = tf.tidy(() => [0, 1, 2].map(() => tf.fill([96], 1)));
    const buffers = first.map(bufferOf);
    tf.dispose(first);
    // A read submits what is recorded, after which the backend hands the freed buffers back to its pool.
    const flush = tf.fill([4], 2);
    await flush.data();
    flush.dispose();
    const preferred = new PreferredBuffers();
    preferred.took(buffers[0]!);
    const info = made();
    placeOnGPU(b, info, 4 * 96, preferred);
    const taken = b.tensorMap.get(info.dataId)!.resource;
    expect(taken).toBe(buffers[0]);
    expect(preferred.buffers[0]).toBe(buffers[0]);
    // Without one it prefers, the pool's own choice.
    const other = made();
    placeOnGPU(b, other, 4 * 96);
    expect(b.tensorMap.get(other.dataId)!.resource).not.toBe(buffers[0]);
    for (const i of [info, other]) (b as unknown as { disposeData(id: object): void }).disposeData(i.dataId);
  });

  it('a training step stops making bind groups: after ten steps, a handful a step of its ~70 dispatches', async () => {
    await withFusedKernels(true, async () => {
      const config = selfTestConfig();
      const { imageSize: s, channels } = config.model;
      const images = tf.tensor4d(syntheticImages(config.batchSize, s, channels, 4), [config.batchSize, s, s, channels], 'int32');
      const state = createTrainState(config);
      for (let i = 0; i < 10; i++) await trainStep(state, images);
      const groups = countBindGroups(backend().device);
      let made = 0;
      try {
        for (let i = 0; i < 3; i++) await trainStep(state, images);
        made = groups.made();
      } finally {
        groups.restore();
      }
      // The few dispatches whose buffers others of the same size took first (66 a step in the first two steps); the
      // optimiser's update, whose bias corrections are uniforms new at every step, rewrites a slot's and finds its group.
      expect(made).toBeLessThanOrEqual(3 * 4);
      images.dispose();
      disposeTrainState(state);
    });
  });
});

describe('the dispatch cache', () => {
  const entry = (key: string) => ({ pipe: { key, pipeline: {} as GPUComputePipeline, layout: {} as GPUBindGroupLayout }, uniform: null });

  it('evicts the least recently used past its capacity', () => {
    const cache = new DispatchCache(2);
    expect(cache.add('a', entry('a'))).toEqual([]);
    expect(cache.add('b', entry('b'))).toEqual([]);
    cache.get('a');
    expect(cache.add('c', entry('c')).map((e) => e.pipe.key)).toEqual(['b']);
    expect(cache.has('a') && cache.has('c') && !cache.has('b')).toBe(true);
    expect(cache.size).toBe(2);
  });

  it('keys by program, types, sizes and every uniform’s type and bits', () => {
    const key = (dtypes: string[], sizes: number[], out: number, u: ProgramUniform[]) => dispatchSignature('tabclr_p', dtypes, sizes, out, u);
    const base = key(['float32'], [4], 4, [{ type: 'int32', data: [4] }]);
    expect(key(['float32'], [4], 4, [{ type: 'int32', data: [4] }])).toBe(base);
    expect(key(['int32'], [4], 4, [{ type: 'int32', data: [4] }])).not.toBe(base);
    expect(key(['float32'], [5], 4, [{ type: 'int32', data: [4] }])).not.toBe(base);
    expect(key(['float32'], [4], 5, [{ type: 'int32', data: [4] }])).not.toBe(base);
    expect(key(['float32'], [4], 4, [{ type: 'float32', data: [4] }])).not.toBe(base);
    expect(key(['float32'], [4], 4, [{ type: 'float32', data: [0] }])).not.toBe(key(['float32'], [4], 4, [{ type: 'float32', data: [-0] }]));
    expect(dispatchSignature('tabclr_q', ['float32'], [4], 4, [{ type: 'int32', data: [4] }])).not.toBe(base);
  });
});
