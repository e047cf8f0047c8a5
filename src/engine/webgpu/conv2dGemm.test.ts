// The implicit-GEMM convolutions on WebGPU (Dawn in Node) against tfjs's own kernels on its CPU backend: forward, input
// gradient and filter gradient for every convolution of convnet4 (widths 0.25 and 1) and resnet18, at 16 and 32 px,
// one and three channels (one channel is singleChannelConv.ts's), a batch of 1 and of 3; and every program on the
// index path tfjs-webgpu compiles for a dispatch of more than 65,535 workgroups.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, recordDispatches, useDawn, withFusedKernels, withWorkgroupLimit } from '../../test/dawn';
import { createEncoder } from '../encoders';
import type { Channels, EncoderName } from '../config';
import { Random } from '../random';
import { fusedBackend } from './programs';
import { filterGradParallelism, filterGradSplit, forwardParallelism, inputGradParallelism, MAX_CHUNK, MIN_CHUNK, TARGET_INVOCATIONS } from './conv2dGemm';
import { workgroupsFor, type ProgramParallelism } from './kernelBuilder';
import { MAX_WORKGROUPS_PER_DIMENSION } from './limits';
import { singleChannelParallelism } from './singleChannelConv';

useDawn();

interface ConvShape {
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
}

const key = (s: ConvShape) => `${s.height}×${s.width}×${s.inChannels} → ${s.outChannels}, ${s.kernel}×${s.kernel} stride ${s.stride}`;

/** The convolutions of the encoders as the engine builds them (tfjs-layers Conv2D layers), each shape once. */
function encoderConvolutions(): ConvShape[] {
  const shapes = new Map<string, ConvShape>();
  const models: [EncoderName, number][] = [
    ['convnet4', 0.25],
    ['convnet4', 1],
    ['resnet18', 1],
  ];
  for (const [encoder, width] of models) {
    for (const imageSize of [16, 32]) {
      for (const channels of [1, 3] as Channels[]) {
        const model = createEncoder({ encoder, width, imageSize, channels }, 1);
        for (const layer of model.layers) {
          if (layer.getClassName() !== 'Conv2D') continue;
          const config = layer.getConfig() as { kernelSize: number[]; strides: number[]; filters: number; padding: string };
          expect(config.padding).toBe('same');
          const input = layer.input as tf.SymbolicTensor;
          const s: ConvShape = {
            height: input.shape[1]!,
            width: input.shape[2]!,
            inChannels: input.shape[3]!,
            outChannels: config.filters,
            kernel: config.kernelSize[0]!,
            stride: config.strides[0]!,
          };
          shapes.set(key(s), s);
        }
        model.dispose();
      }
    }
  }
  return [...shapes.values()];
}

function random(shape: number[], rng: Random): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1), shape);
}

interface Results {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

const attrsOf = (stride: number) => ({ strides: [stride, stride], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined }) as unknown as tf.NamedAttrMap;

type Output = keyof Results;

/** One of the three on WebGPU, as the tfjs kernel the engine's layers (FusedConv2D) or gradients call. */
function convolutionKernel(output: Output, x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D, stride: number): tf.Tensor {
  const attrs = attrsOf(stride);
  if (output === 'y') return tf.engine().runKernel('FusedConv2D', { x, filter: w }, { ...attrs, activation: 'linear' }) as tf.Tensor;
  if (output === 'dx') return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor;
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor;
}

/** Those of `outputs` on WebGPU with the fused kernels on. */
async function convolveOnWebGPU(x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D, stride: number, outputs: Output[] = ['y', 'dx', 'dw']): Promise<Partial<Results>> {
  return withFusedKernels(true, async () => {
    // The wrapping happens when the fused kernels first start.
    fusedBackend();
    const out: Partial<Results> = {};
    for (const o of outputs) {
      const t = convolutionKernel(o, x, w, dy, stride);
      out[o] = (await t.data()) as Float32Array;
      t.dispose();
    }
    return out;
  });
}

/** TensorFlow's 'same' padding: the padding before a dimension (the smaller half of the total). */
const padBefore = (size: number, kernel: number, stride: number) => Math.floor(Math.max((Math.ceil(size / stride) - 1) * stride + kernel - size, 0) / 2);

/**
 * The same three from tfjs ops on its CPU backend (the process switches to it and back): the oracle. Forward and
 * input gradient are tfjs's own kernels there; the filter gradient is built from ops, one matrix product per tap of
 * the padded input's strided slice against dy, because tfjs-cpu's Conv2DBackpropFilter (one weight at a time, over
 * every position) and tfjs-webgpu's (one invocation per weight) take seconds to tens of seconds a layer here.
 */
async function convolveOnCpu(x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D, stride: number): Promise<Results> {
  const [xv, wv, dyv] = await Promise.all([x.data(), w.data(), dy.data()]);
  await tf.setBackend('cpu');
  try {
    return tf.tidy(() => {
      const [cx, cw, cdy] = [tf.tensor4d(xv, x.shape), tf.tensor4d(wv, w.shape), tf.tensor4d(dyv, dy.shape)];
      const [batch, height, width, inChannels] = x.shape;
      const [kernel, , , outChannels] = w.shape;
      const [, outHeight, outWidth] = dy.shape;
      const y = tf.conv2d(cx, cw, stride, 'same');
      const dx = tf.conv2dTranspose(cdy, cw, x.shape, stride, 'same');
      const top = padBefore(height, kernel, stride);
      const left = padBefore(width, kernel, stride);
      const padded = tf.pad(cx, [
        [0, 0],
        [top, kernel + stride * outHeight],
        [left, kernel + stride * outWidth],
        [0, 0],
      ]);
      const dyRows = cdy.reshape([batch * outHeight * outWidth, outChannels]);
      const taps: tf.Tensor[] = [];
      for (let ky = 0; ky < kernel; ky++) {
        for (let kx = 0; kx < kernel; kx++) {
          const window = tf.stridedSlice(padded, [0, ky, kx, 0], [batch, ky + stride * outHeight, kx + stride * outWidth, inChannels], [1, stride, stride, 1]);
          taps.push(tf.matMul(window.reshape([batch * outHeight * outWidth, inChannels]), dyRows, true, false));
        }
      }
      const dw = tf.stack(taps).reshape(w.shape);
      return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
    });
  } finally {
    await tf.setBackend('webgpu');
  }
}

/**
 * |fused − tfjs| against float32 rounding of a sum of `terms` products of values in [−1, 1]: both sides round, in
 * different orders, errors that grow like √terms times the size of the partial sums (√terms / √3), i.e. like
 * terms · 2⁻²⁴ at worst; the largest of thousands of outputs sits a few times above the typical error.
 */
function expectClose(actual: Float32Array, expected: Float32Array, terms: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const bound = 8 * 2 ** -24 * Math.max(terms, 16);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst, `${what}: largest |difference| ${worst} (bound ${bound})`).toBeLessThan(bound);
}

const outSize = (size: number, stride: number) => Math.ceil(size / stride);

describe('convolutions as implicit matrix products on WebGPU', () => {
  const shapes = encoderConvolutions();

  it('the encoders have the convolutions the issue names', () => {
    // 3×3 and 1×1, strides 1 and 2, 1 and 3 input channels up to 512.
    expect(new Set(shapes.map((s) => s.kernel))).toEqual(new Set([1, 3]));
    expect(new Set(shapes.map((s) => s.stride))).toEqual(new Set([1, 2]));
    expect(shapes.some((s) => s.inChannels === 1) && shapes.some((s) => s.inChannels === 3)).toBe(true);
    expect(Math.max(...shapes.map((s) => s.outChannels))).toBe(512);
  });

  for (const s of shapes) {
    it(`${key(s)}: tfjs's output, input gradient and filter gradient at batches 1 and 3`, async () => {
      for (const batch of [1, 3]) {
        const rng = new Random(s.height * 1000 + s.inChannels * 7 + s.outChannels + batch);
        const x = random([batch, s.height, s.width, s.inChannels], rng) as tf.Tensor4D;
        const w = random([s.kernel, s.kernel, s.inChannels, s.outChannels], rng) as tf.Tensor4D;
        const dy = random([batch, outSize(s.height, s.stride), outSize(s.width, s.stride), s.outChannels], rng) as tf.Tensor4D;
        const reference = await convolveOnCpu(x, w, dy, s.stride);
        const { result: fused, byProgram } = await countDispatches(() => convolveOnWebGPU(x, w, dy, s.stride));
        // One channel is singleChannelConv.ts's; every other convolution runs here, none through tfjs.
        const mine = [...byProgram.keys()];
        if (s.inChannels > 1) expect(mine.every((k) => k.startsWith('tabclr_conv_')), mine.join(', ')).toBe(true);
        else expect(mine.every((k) => k.startsWith('tabclr_conv1ch_')), mine.join(', ')).toBe(true);
        const at = `batch ${batch}`;
        expectClose(fused.y!, reference.y, s.kernel * s.kernel * s.inChannels, `${at} forward`);
        expectClose(fused.dx!, reference.dx, Math.ceil(s.kernel / s.stride) ** 2 * s.outChannels, `${at} input gradient`);
        expectClose(fused.dw!, reference.dw, batch * outSize(s.height, s.stride) * outSize(s.width, s.stride), `${at} filter gradient`);
        tf.dispose([x, w, dy]);
      }
    });
  }

  // tfjs-webgpu spreads a flat dispatch of more than maxComputeWorkgroupsPerDimension (65,535) workgroups over x and y
  // and compiles another shader for it, whose invocations take their index from the workgroup id, and whose last
  // workgroups run past the work. A layer that big is 4 million invocations and hundreds of MB; instead each kernel runs
  // here on a small case with the device's limit as the backend reads it lowered to √(its largest dispatch): the same
  // reshaping, the same second shader. One genuinely large dispatch follows, for the cheapest program.
  const KERNELS = {
    forward: (c: tf.backend_util.Conv2DInfo) => (c.inChannels === 1 ? [singleChannelParallelism(c, false)[0]!] : [forwardParallelism(c)]),
    'input gradient': (c: tf.backend_util.Conv2DInfo) => (c.inChannels === 1 ? [singleChannelParallelism(c, true)[1]!] : [inputGradParallelism(c)]),
    'filter gradient': (c: tf.backend_util.Conv2DInfo) => (c.inChannels === 1 ? singleChannelParallelism(c, false).slice(1) : filterGradParallelism(c)),
  };
  const spread: [keyof typeof KERNELS, number[], number, number][] = [
    // [kernel, input shape, output channels, stride], covering every program and variant.
    ['forward', [2, 16, 16, 8], 32, 1],
    ['forward', [2, 16, 16, 3], 32, 1],
    ['forward', [2, 16, 16, 4], 30, 1],
    ['forward', [2, 16, 16, 3], 30, 1],
    ['forward', [2, 16, 16, 1], 8, 1],
    ['input gradient', [2, 16, 16, 32], 8, 1],
    ['input gradient', [2, 16, 16, 32], 8, 2],
    ['input gradient', [2, 16, 16, 32], 6, 1],
    ['input gradient', [2, 16, 16, 1], 8, 1],
    ['filter gradient', [2, 16, 16, 32], 32, 1],
    ['filter gradient', [2, 32, 32, 3], 32, 1],
    ['filter gradient', [2, 16, 16, 32], 30, 1],
    ['filter gradient', [2, 32, 32, 3], 30, 1],
    ['filter gradient', [2, 4, 4, 1], 128, 1],
  ];
  for (const [kernel, shape, outChannels, stride] of spread) {
    it(`${kernel}, [${shape}] → ${outChannels}, stride ${stride}: on the index path of a dispatch past the workgroup limit`, async () => {
      const c = tf.backend_util.computeConv2DInfo(shape as [number, number, number, number], [3, 3, shape[3]!, outChannels], stride, 1, 'same');
      const expected = KERNELS[kernel](c);
      const workgroups = expected.map((p) => workgroupsFor(p.invocations));
      const limit = Math.ceil(Math.sqrt(Math.max(...workgroups)));
      // Every program of the kernel goes past the lowered limit, and fits in two dimensions as a real one would.
      expect(Math.min(...workgroups), `${workgroups} against a limit of ${limit}`).toBeGreaterThan(limit);
      const rng = new Random(shape.reduce((a, b) => a * b, 1) + outChannels);
      const x = random(shape, rng) as tf.Tensor4D;
      const w = random([3, 3, shape[3]!, outChannels], rng) as tf.Tensor4D;
      const dy = random(c.outShape, rng) as tf.Tensor4D;
      const reference = await convolveOnCpu(x, w, dy, stride);
      const output = ({ forward: 'y', 'input gradient': 'dx', 'filter gradient': 'dw' } as const)[kernel];
      const dispatched = await withWorkgroupLimit(limit, () => recordDispatches(() => convolveOnWebGPU(x, w, dy, stride, [output])));
      const ran = dispatched.programs.filter((p) => expected.some((e) => e.program === p.program));
      expect(ran.map(({ program, invocations, serialLoop }) => ({ program, invocations, serialLoop }))).toEqual(expected);
      for (const p of ran) expect(p.dispatch[1], `${p.program} dispatched ${p.dispatch}`).toBeGreaterThan(1);
      expect(maxAbsoluteDifference(dispatched.result[output]!, reference[output])).toBeLessThan(1e-4);
      tf.dispose([x, w, dy]);
    });
  }

  it('a real dispatch of more than 65,535 workgroups: the single-channel forward pass at 4 × 128 × 128 → 65 channels', async () => {
    const rng = new Random(5);
    const x = random([4, 128, 128, 1], rng) as tf.Tensor4D;
    const w = random([3, 3, 1, 65], rng) as tf.Tensor4D;
    const { result: y, programs } = await recordDispatches(() =>
      withFusedKernels(true, async () => {
        fusedBackend();
        const out = tf.conv2d(x, w, 1, 'same');
        const values = (await out.data()) as Float32Array;
        out.dispose();
        return values;
      }),
    );
    expect(programs).toHaveLength(1);
    expect(workgroupsFor(programs[0]!.invocations)).toBeGreaterThan(MAX_WORKGROUPS_PER_DIMENSION);
    expect(programs[0]!.dispatch[1]).toBeGreaterThan(1);
    // Spot checks against the sum written out, at the corners, the last element and random places.
    const [xv, wv] = [(await x.data()) as Float32Array, (await w.data()) as Float32Array];
    const at = (n: number, oy: number, ox: number, co: number) => {
      let sum = 0;
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          const [iy, ix] = [oy - 1 + ky, ox - 1 + kx];
          if (iy >= 0 && iy < 128 && ix >= 0 && ix < 128) sum += xv[(n * 128 + iy) * 128 + ix]! * wv[(ky * 3 + kx) * 65 + co]!;
        }
      }
      return sum;
    };
    const picks = [[0, 0, 0, 0], [3, 127, 127, 64], [2, 0, 127, 17], ...Array.from({ length: 2000 }, () => [rng.int(4), rng.int(128), rng.int(128), rng.int(65)])];
    for (const [n, oy, ox, co] of picks) expect(Math.abs(y[((n! * 128 + oy!) * 128 + ox!) * 65 + co!]! - at(n!, oy!, ox!, co!))).toBeLessThan(1e-5);
    tf.dispose([x, w]);
  });

  it('hands to tfjs what it does not cover: dilation, a bias', async () => {
    const rng = new Random(9);
    const x = random([2, 8, 8, 4], rng) as tf.Tensor4D;
    const w = random([3, 3, 4, 8], rng) as tf.Tensor4D;
    const bias = random([8], rng) as tf.Tensor1D;
    const run = () =>
      withFusedKernels(true, async () => {
        fusedBackend();
        const dilated = tf.conv2d(x, w, 1, 'same', 'NHWC', 2);
        const biased = tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'relu' });
        const out = [(await dilated.data()) as Float32Array, (await biased.data()) as Float32Array];
        tf.dispose([dilated, biased]);
        return out;
      });
    const { result, byProgram } = await countDispatches(run);
    expect([...byProgram.keys()].filter((k) => k.startsWith('tabclr_'))).toEqual([]);
    const reference = await withFusedKernels(false, run);
    expect(maxAbsoluteDifference(result[0]!, reference[0]!)).toBe(0);
    expect(maxAbsoluteDifference(result[1]!, reference[1]!)).toBe(0);
    tf.dispose([x, w, bias]);
  });
});

describe('parallelism at the batches and image sizes of real runs', () => {
  // Too serial, as bench:engine flags it: more than 4,096 iterations in each invocation of a dispatch of fewer than 8,192.
  const tooSerial = (p: ProgramParallelism) => p.serialLoop > 4096 && p.invocations < 8192;
  for (const [encoder, batch, imageSize] of [
    ['convnet4', 256, 32],
    ['resnet18', 256, 32],
    ['convnet4', 512, 96],
    ['resnet18', 512, 96],
  ] as const) {
    it(`${encoder}, batch ${batch} of ${imageSize} px, one and three channels: no convolution dispatch too serial`, () => {
      const programs: ProgramParallelism[] = [];
      for (const channels of [1, 3] as Channels[]) {
        const model = createEncoder({ encoder, width: 1, imageSize, channels }, 1);
        model.layers
          .filter((l) => l.getClassName() === 'Conv2D')
          .forEach((layer, i) => {
            const input = (layer.input as tf.SymbolicTensor).shape as number[];
            const kernel = (layer.getWeights()[0] as tf.Tensor).shape as [number, number, number, number];
            const stride = (layer.getConfig() as { strides: number[] }).strides[0]!;
            const c = tf.backend_util.computeConv2DInfo([2 * batch, input[1]!, input[2]!, input[3]!], kernel, stride, 1, 'same');
            programs.push(...(c.inChannels === 1 ? singleChannelParallelism(c) : [forwardParallelism(c), ...(i > 0 ? [inputGradParallelism(c)] : []), ...filterGradParallelism(c)]));
          });
        model.dispose();
      }
      expect(programs.filter(tooSerial)).toEqual([]);
      // The longest loop anywhere: a chunk of rows of the filter gradient (at most 4,096 positions) or √positions.
      expect(Math.max(...programs.map((p) => p.serialLoop))).toBeLessThanOrEqual(4096);
    });
  }
});

describe('the filter gradient’s split of the batch', () => {
  it('reaches the target number of invocations where the batch has the positions, in whole rows within the chunk bounds', () => {
    // The first layer of a colour convnet4 at 128 views of 32 px: 72 tiles over 4,096 rows of 32 positions.
    expect(filterGradSplit(4096, 32, 72)).toEqual({ chunks: 456, chunkRows: 9 });
    expect(456 * 72).toBeGreaterThanOrEqual(TARGET_INVOCATIONS);
    // ResNet-18's last convolution at 512 views of 32 px: 147,456 tiles already; chunks only to bound the loop.
    expect(filterGradSplit(512 * 4, 4, 147_456)).toEqual({ chunks: 2, chunkRows: 1024 });
    // A tiny batch: one chunk, no second pass.
    expect(filterGradSplit(8, 8, 36)).toEqual({ chunks: 1, chunkRows: 8 });
    for (const [rows, rowLength, tiles] of [
      [1, 1, 1],
      [100_000, 1, 1],
      [5_000_000, 7, 9],
      [777, 16, 10_000],
      [3, 5000, 1],
    ]) {
      const { chunks, chunkRows } = filterGradSplit(rows!, rowLength!, tiles!);
      expect(chunks * chunkRows).toBeGreaterThanOrEqual(rows!);
      expect((chunks - 1) * chunkRows).toBeLessThan(rows!);
      expect(chunkRows * rowLength!).toBeLessThanOrEqual(Math.max(MAX_CHUNK, rowLength!));
      if (chunks > 1) expect(chunkRows * rowLength!).toBeGreaterThanOrEqual(Math.min(MIN_CHUNK / 2, rowLength!));
    }
  });
});

function maxAbsoluteDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
