// The first convolution of a grayscale encoder (one input channel) on WebGPU, forward and both gradients, as flat
// programs. tfjs-webgpu runs it as a tiled matrix product whose inner dimension is only 3 × 3 × 1 = 9: its 4-wide
// vector path cannot apply and nearly every tile is padding, and it took 1.2 s of a 2.4 s step on SwiftShader (20×
// the same convolution computed directly). The tfjs kernels stay registered for every other convolution: this
// wraps them, and hands anything it does not cover (more channels, dilation, a bias or an activation, NCHW, the
// flag off) to the kernel it wraps.
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNELS_FLAG, flatProgram, runProgramInfo, whenFusedKernelsStart, type WebGPUBackendInternals } from './programs';

const UNIFORMS =
  'batch : i32, inHeight : i32, inWidth : i32, outHeight : i32, outWidth : i32, outChannels : i32, filterHeight : i32, filterWidth : i32, strideY : i32, strideX : i32, padTop : i32, padLeft : i32, chunks : i32,';

/** Output positions one invocation of the filter gradient sums over. */
const POSITIONS_PER_CHUNK = 256;

// One invocation per output element: Σ over the window of x · w.
const forwardProgram = (size: number) =>
  flatProgram(
    'conv1ch_forward',
    ['X', 'W'],
    size,
    size,
    UNIFORMS,
    `
  if (index >= uniforms.batch * uniforms.outHeight * uniforms.outWidth * uniforms.outChannels) { return; }
  let co = index % uniforms.outChannels;
  let p = index / uniforms.outChannels;
  let ox = p % uniforms.outWidth;
  let oy = (p / uniforms.outWidth) % uniforms.outHeight;
  let n = p / (uniforms.outWidth * uniforms.outHeight);
  var sum = 0.0;
  for (var ky = 0; ky < uniforms.filterHeight; ky++) {
    let iy = oy * uniforms.strideY - uniforms.padTop + ky;
    if (iy < 0 || iy >= uniforms.inHeight) { continue; }
    for (var kx = 0; kx < uniforms.filterWidth; kx++) {
      let ix = ox * uniforms.strideX - uniforms.padLeft + kx;
      if (ix < 0 || ix >= uniforms.inWidth) { continue; }
      sum += X[(n * uniforms.inHeight + iy) * uniforms.inWidth + ix] * W[(ky * uniforms.filterWidth + kx) * uniforms.outChannels + co];
    }
  }
  result[index] = sum;`,
  );

// One invocation per input pixel: Σ over the outputs whose window holds it of dy · w.
const inputGradProgram = (size: number) =>
  flatProgram(
    'conv1ch_input_grad',
    ['DY', 'W'],
    size,
    size,
    UNIFORMS,
    `
  if (index >= uniforms.batch * uniforms.inHeight * uniforms.inWidth) { return; }
  let ix = index % uniforms.inWidth;
  let iy = (index / uniforms.inWidth) % uniforms.inHeight;
  let n = index / (uniforms.inWidth * uniforms.inHeight);
  var sum = 0.0;
  for (var ky = 0; ky < uniforms.filterHeight; ky++) {
    let ty = iy + uniforms.padTop - ky;
    if (ty < 0 || ty % uniforms.strideY != 0) { continue; }
    let oy = ty / uniforms.strideY;
    if (oy >= uniforms.outHeight) { continue; }
    for (var kx = 0; kx < uniforms.filterWidth; kx++) {
      let tx = ix + uniforms.padLeft - kx;
      if (tx < 0 || tx % uniforms.strideX != 0) { continue; }
      let ox = tx / uniforms.strideX;
      if (ox >= uniforms.outWidth) { continue; }
      let dy = ((n * uniforms.outHeight + oy) * uniforms.outWidth + ox) * uniforms.outChannels;
      let w = (ky * uniforms.filterWidth + kx) * uniforms.outChannels;
      for (var co = 0; co < uniforms.outChannels; co++) { sum += DY[dy + co] * W[w + co]; }
    }
  }
  result[index] = sum;`,
  );

// Per (chunk of output positions, filter element): Σ x · dy over the chunk.
const filterGradPartials = (threads: number) =>
  flatProgram(
    'conv1ch_filter_grad_partials',
    ['X', 'DY'],
    threads,
    threads,
    UNIFORMS,
    `
  let taps = uniforms.filterHeight * uniforms.filterWidth * uniforms.outChannels;
  if (index >= uniforms.chunks * taps) { return; }
  let f = index % taps;
  let co = f % uniforms.outChannels;
  let kx = (f / uniforms.outChannels) % uniforms.filterWidth;
  let ky = f / (uniforms.outChannels * uniforms.filterWidth);
  let positions = uniforms.batch * uniforms.outHeight * uniforms.outWidth;
  let start = (index / taps) * ${POSITIONS_PER_CHUNK};
  let stop = min(start + ${POSITIONS_PER_CHUNK}, positions);
  var sum = 0.0;
  for (var p = start; p < stop; p++) {
    let ox = p % uniforms.outWidth;
    let oy = (p / uniforms.outWidth) % uniforms.outHeight;
    let n = p / (uniforms.outWidth * uniforms.outHeight);
    let iy = oy * uniforms.strideY - uniforms.padTop + ky;
    let ix = ox * uniforms.strideX - uniforms.padLeft + kx;
    if (iy < 0 || iy >= uniforms.inHeight || ix < 0 || ix >= uniforms.inWidth) { continue; }
    sum += X[(n * uniforms.inHeight + iy) * uniforms.inWidth + ix] * DY[p * uniforms.outChannels + co];
  }
  result[index] = sum;`,
  );

const filterGradTotals = (taps: number) =>
  flatProgram(
    'conv1ch_filter_grad_totals',
    ['S'],
    taps,
    taps,
    UNIFORMS,
    `
  let taps = uniforms.filterHeight * uniforms.filterWidth * uniforms.outChannels;
  if (index >= taps) { return; }
  var sum = 0.0;
  for (var k = 0; k < uniforms.chunks; k++) { sum += S[k * taps + index]; }
  result[index] = sum;`,
  );

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

function uniforms(c: ConvInfo, chunks = 0) {
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
    chunks,
  ].map((v) => ({ type: 'int32' as const, data: [v] }));
}

/** A convolution these programs compute: one input channel, NHWC, no dilation. */
function covered(c: ConvInfo): boolean {
  return c.inChannels === 1 && c.dataFormat === 'channelsLast' && c.dilationHeight === 1 && c.dilationWidth === 1 && tf.env().getBool(FUSED_KERNELS_FLAG);
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | null | undefined>;
  attrs: Record<string, unknown>;
  backend: WebGPUBackendInternals;
}

const info = (a: KernelArgs['attrs'], xShape: number[], filterShape: number[], dilations: number | [number, number] = 1) =>
  tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a['strides'] as [number, number],
    dilations,
    a['pad'] as 'same',
    a['dimRoundingMode'] as 'round' | undefined,
    false,
    tf.backend_util.convertConv2DDataFormat(a['dataFormat'] as 'NHWC'),
  );

function forward({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = inputs;
  if (bias || preluActivationWeights || (attrs['activation'] && attrs['activation'] !== 'linear')) return null;
  const c = info(attrs, x!.shape, filter!.shape, attrs['dilations'] as number);
  if (!covered(c)) return null;
  const out = runProgramInfo(backend, forwardProgram(c.batchSize * c.outHeight * c.outWidth * c.outChannels), [x!, filter!], uniforms(c));
  return { dataId: out.dataId, shape: c.outShape, dtype: 'float32' };
}

function inputGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { dy, filter } = inputs;
  const c = info(attrs, attrs['inputShape'] as number[], filter!.shape);
  if (!covered(c)) return null;
  const out = runProgramInfo(backend, inputGradProgram(c.batchSize * c.inHeight * c.inWidth), [dy!, filter!], uniforms(c));
  return { dataId: out.dataId, shape: c.inShape, dtype: 'float32' };
}

function filterGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  const c = info(attrs, x!.shape, attrs['filterShape'] as number[]);
  if (!covered(c)) return null;
  const taps = c.filterHeight * c.filterWidth * c.outChannels;
  const chunks = Math.ceil((c.batchSize * c.outHeight * c.outWidth) / POSITIONS_PER_CHUNK);
  const partials = runProgramInfo(backend, filterGradPartials(chunks * taps), [x!, dy!], uniforms(c, chunks));
  const totals = runProgramInfo(backend, filterGradTotals(taps), [partials], uniforms(c, chunks));
  (backend as unknown as { disposeData(id: object): void }).disposeData(partials.dataId);
  return { dataId: totals.dataId, shape: c.filterShape, dtype: 'float32' };
}

/**
 * Wraps tfjs-webgpu's FusedConv2D, Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter kernels, once, when the fused
 * kernels first run (the WebGPU backend registers its kernels only once it is imported, after navigator.gpu exists):
 * a single-channel convolution runs here, everything else as before.
 */
function wrapSingleChannelConvolutions(): void {
  const wrap = (name: string, mine: (args: KernelArgs) => tf.TensorInfo | null) => {
    const original = tf.getKernel(name, 'webgpu');
    if (!original) return;
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel({
      ...original,
      kernelFunc: ((args: KernelArgs) => mine(args) ?? original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0])) as unknown as tf.KernelFunc,
    });
  };
  wrap('FusedConv2D', forward);
  wrap('Conv2D', forward);
  wrap('Conv2DBackpropInput', inputGrad);
  wrap('Conv2DBackpropFilter', filterGrad);
}

whenFusedKernelsStart(wrapSingleChannelConvolutions);
