// The first convolution of a grayscale encoder (one input channel) on WebGPU, forward and both gradients, as flat
// programs. tfjs-webgpu runs it as a tiled matrix product whose inner dimension is only 3 × 3 × 1 = 9: its 4-wide
// vector path cannot apply and nearly every tile is padding, and it took 1.2 s of a 2.4 s step on SwiftShader (20×
// the same convolution computed directly). The tfjs kernels stay registered for every other convolution (two or more
// input channels: conv2dGemm.ts): this wraps them, and hands anything it does not cover (more channels, dilation, a
// bias or an activation, NCHW, the flag off) to the kernel it wraps.
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNELS_FLAG, whenFusedKernelsStart } from './programs';
import {
  UniformList,
  disposeInfo,
  guard,
  kernelProgram,
  runKernel,
  shaderKeyOf,
  unflatten,
  wrapKernel,
  type KernelArgs,
  type ProgramParallelism,
} from './kernelBuilder';

const CONV = new UniformList([
  'batch',
  'inHeight',
  'inWidth',
  'outHeight',
  'outWidth',
  'outChannels',
  'filterHeight',
  'filterWidth',
  'strideY',
  'strideX',
  'padTop',
  'padLeft',
  'chunks',
  'chunkLength',
] as const);

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * The filter gradient's split of the batch's output positions: chunks of about √positions, so that both the first
 * pass (per chunk and weight) and the second (per weight, over the chunks) loop about √positions times. At a fixed 256
 * positions a chunk, ResNet-18's stem at 512 views of 32 px had 576 invocations each adding 2,048 chunks.
 */
export function singleChannelSplit(positions: number): { chunks: number; chunkLength: number } {
  const chunkLength = Math.max(1, Math.ceil(Math.sqrt(positions)));
  return { chunks: Math.ceil(positions / chunkLength), chunkLength };
}

/**
 * Every dispatch of one training step of the convolution, in order. tfjs takes the input gradient of the first layer
 * too (the engine's step does not stop it at the image), so it is counted unless `inputGradient` is false.
 */
export function singleChannelParallelism(c: ConvInfo, inputGradient = true): ProgramParallelism[] {
  const taps = c.filterHeight * c.filterWidth * c.outChannels;
  const { chunks, chunkLength } = singleChannelSplit(c.batchSize * c.outHeight * c.outWidth);
  return [
    { program: shaderKeyOf('conv1ch_forward'), invocations: c.batchSize * c.outHeight * c.outWidth * c.outChannels, serialLoop: c.filterHeight * c.filterWidth },
    ...(inputGradient
      ? [{ program: shaderKeyOf('conv1ch_input_grad'), invocations: c.batchSize * c.inHeight * c.inWidth, serialLoop: c.filterHeight * c.filterWidth * c.outChannels }]
      : []),
    { program: shaderKeyOf('conv1ch_filter_grad_partials'), invocations: chunks * taps, serialLoop: chunkLength },
    { program: shaderKeyOf('conv1ch_filter_grad_totals'), invocations: taps, serialLoop: chunks },
  ];
}

const SHAPE = `
  let N = uniforms.batch;
  let IH = uniforms.inHeight;
  let IW = uniforms.inWidth;
  let OH = uniforms.outHeight;
  let OW = uniforms.outWidth;
  let CO = uniforms.outChannels;
  let FH = uniforms.filterHeight;
  let FW = uniforms.filterWidth;
  let SY = uniforms.strideY;
  let SX = uniforms.strideX;
  let PT = uniforms.padTop;
  let PL = uniforms.padLeft;`;

// One invocation per output element: Σ over the window of x · w.
const forwardProgram = (c: ConvInfo) => {
  const [p] = singleChannelParallelism(c, false);
  return kernelProgram({
    name: 'conv1ch_forward',
    inputs: [{ name: 'X' }, { name: 'W' }],
    outputSize: p!.invocations,
    uniforms: CONV.declaration,
    invocations: p!.invocations,
    serialLoop: p!.serialLoop,
    body: () => `${SHAPE}
  ${guard('index', 'N * OH * OW * CO')}
  ${unflatten('index', ['n', 'oy', 'ox', 'co'], ['N', 'OH', 'OW', 'CO'])}
  var sum = 0.0;
  for (var ky = 0; ky < FH; ky++) {
    let iy = oy * SY - PT + ky;
    if (iy < 0 || iy >= IH) { continue; }
    for (var kx = 0; kx < FW; kx++) {
      let ix = ox * SX - PL + kx;
      if (ix < 0 || ix >= IW) { continue; }
      sum += X[(n * IH + iy) * IW + ix] * W[(ky * FW + kx) * CO + co];
    }
  }
  result[index] = sum;`,
  });
};

// One invocation per input pixel: Σ over the outputs whose window holds it of dy · w.
const inputGradProgram = (c: ConvInfo) => {
  const p = singleChannelParallelism(c, true)[1]!;
  return kernelProgram({
    name: 'conv1ch_input_grad',
    inputs: [{ name: 'DY' }, { name: 'W' }],
    outputSize: p.invocations,
    uniforms: CONV.declaration,
    invocations: p.invocations,
    serialLoop: p.serialLoop,
    body: () => `${SHAPE}
  ${guard('index', 'N * IH * IW')}
  ${unflatten('index', ['n', 'iy', 'ix'], ['N', 'IH', 'IW'])}
  var sum = 0.0;
  for (var ky = 0; ky < FH; ky++) {
    let ty = iy + PT - ky;
    if (ty < 0 || ty % SY != 0) { continue; }
    let oy = ty / SY;
    if (oy >= OH) { continue; }
    for (var kx = 0; kx < FW; kx++) {
      let tx = ix + PL - kx;
      if (tx < 0 || tx % SX != 0) { continue; }
      let ox = tx / SX;
      if (ox >= OW) { continue; }
      let dy = ((n * OH + oy) * OW + ox) * CO;
      let w = (ky * FW + kx) * CO;
      for (var co = 0; co < CO; co++) { sum += DY[dy + co] * W[w + co]; }
    }
  }
  result[index] = sum;`,
  });
};

// Per (chunk of output positions, filter element): Σ x · dy over the chunk.
const filterGradPartials = (c: ConvInfo) => {
  const p = singleChannelParallelism(c, false)[1]!;
  return kernelProgram({
    name: 'conv1ch_filter_grad_partials',
    inputs: [{ name: 'X' }, { name: 'DY' }],
    outputSize: p.invocations,
    uniforms: CONV.declaration,
    invocations: p.invocations,
    serialLoop: p.serialLoop,
    body: () => `${SHAPE}
  let taps = FH * FW * CO;
  ${guard('index', 'uniforms.chunks * taps')}
  ${unflatten('index', ['chunk', 'ky', 'kx', 'co'], ['uniforms.chunks', 'FH', 'FW', 'CO'])}
  let start = chunk * uniforms.chunkLength;
  let stop = min(start + uniforms.chunkLength, N * OH * OW);
  var sum = 0.0;
  for (var p = start; p < stop; p++) {
    ${unflatten('p', ['n', 'oy', 'ox'], ['N', 'OH', 'OW'])}
    let iy = oy * SY - PT + ky;
    let ix = ox * SX - PL + kx;
    if (iy < 0 || iy >= IH || ix < 0 || ix >= IW) { continue; }
    sum += X[(n * IH + iy) * IW + ix] * DY[p * CO + co];
  }
  result[index] = sum;`,
  });
};

// Per filter element: Σ over the chunks' partial sums.
const filterGradTotals = (c: ConvInfo) => {
  const p = singleChannelParallelism(c, false)[2]!;
  return kernelProgram({
    name: 'conv1ch_filter_grad_totals',
    inputs: [{ name: 'S' }],
    outputSize: p.invocations,
    uniforms: CONV.declaration,
    invocations: p.invocations,
    serialLoop: p.serialLoop,
    body: () => `${SHAPE}
  let taps = FH * FW * CO;
  ${guard('index', 'taps')}
  var sum = 0.0;
  for (var k = 0; k < uniforms.chunks; k++) { sum += S[k * taps + index]; }
  result[index] = sum;`,
  });
};

function uniforms(c: ConvInfo) {
  const { chunks, chunkLength } = singleChannelSplit(c.batchSize * c.outHeight * c.outWidth);
  return CONV.values({
    batch: c.batchSize,
    inHeight: c.inHeight,
    inWidth: c.inWidth,
    outHeight: c.outHeight,
    outWidth: c.outWidth,
    outChannels: c.outChannels,
    filterHeight: c.filterHeight,
    filterWidth: c.filterWidth,
    strideY: c.strideHeight,
    strideX: c.strideWidth,
    padTop: c.padInfo.top,
    padLeft: c.padInfo.left,
    chunks,
    chunkLength,
  });
}

/** A convolution these programs compute: one input channel, NHWC, no dilation. */
function covered(c: ConvInfo): boolean {
  return c.inChannels === 1 && c.dataFormat === 'channelsLast' && c.dilationHeight === 1 && c.dilationWidth === 1 && tf.env().getBool(FUSED_KERNELS_FLAG);
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
  const out = runKernel(backend, forwardProgram(c), [x!, filter!], uniforms(c));
  return { dataId: out.dataId, shape: c.outShape, dtype: 'float32' };
}

function inputGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { dy, filter } = inputs;
  const c = info(attrs, attrs['inputShape'] as number[], filter!.shape);
  if (!covered(c)) return null;
  const out = runKernel(backend, inputGradProgram(c), [dy!, filter!], uniforms(c));
  return { dataId: out.dataId, shape: c.inShape, dtype: 'float32' };
}

function filterGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  const c = info(attrs, x!.shape, attrs['filterShape'] as number[]);
  if (!covered(c)) return null;
  const partials = runKernel(backend, filterGradPartials(c), [x!, dy!], uniforms(c));
  const totals = runKernel(backend, filterGradTotals(c), [partials], uniforms(c));
  // The partials are this kernel's own: freed once the sum is recorded (the backend keeps the buffer until it has run).
  disposeInfo(backend, partials);
  return { dataId: totals.dataId, shape: c.filterShape, dtype: 'float32' };
}

/**
 * Wraps tfjs-webgpu's FusedConv2D, Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter kernels, once, when the fused
 * kernels first run (the WebGPU backend registers its kernels only once it is imported, after navigator.gpu exists):
 * a single-channel convolution runs here, everything else as before.
 */
function wrapSingleChannelConvolutions(): void {
  wrapKernel('FusedConv2D', forward);
  wrapKernel('Conv2D', forward);
  wrapKernel('Conv2DBackpropInput', inputGrad);
  wrapKernel('Conv2DBackpropFilter', filterGrad);
}

whenFusedKernelsStart(wrapSingleChannelConvolutions);
