// Convolutions on WebGPU as implicit matrix products (NHWC, a filter [height, width, in, out]), forward and both
// gradients, each invocation computing a small tile of the product in registers:
//
//   forward          out[position, co]  = Σ over (tap, ci)        x[window of position, ci] · w[tap, ci, co]
//                    4 output positions × 4 output channels per invocation
//   input gradient   dx[position, ci]   = Σ over (tap, co)        dy[position the tap reaches, co] · w[tap, ci, co]
//                    4 input positions of one row and stride phase × 4 input channels per invocation
//   filter gradient  dw[tap, ci, co]    = Σ over output positions x[window of position at tap, ci] · dy[position, co]
//                    4 input × 4 output channels of one tap per invocation, over one chunk of the batch's output
//                    rows; a second pass adds the chunks' partial tiles
//
// What they replace: tfjs-webgpu computes a filter gradient with one invocation per weight, each looping over every
// output position of the batch (the first layer of a colour convnet4 at 128 views: 864 invocations of 131,072
// iterations, where a GPU wants tens of thousands in flight), the input gradient with one invocation per input value
// (1 or 2 × 4 values when channels allow), and the forward pass as a tiled matrix product in workgroup memory.
//
// Flat, not tiled in workgroup memory, on every adapter: a forward pass with 32 × 32 tiles in workgroup memory (two
// barriers every 16 inner steps) ran 1.1–1.3 times slower on SwiftShader, the software adapter the tests and CI run
// on (it runs a barrier by switching between invocations: programs.ts); a GPU would likely prefer the tiled one, but
// none was available to show it (measured while writing this; not yet in BENCHMARKS.md). Four channels at a time
// is a vec4: read as one where the channel count is a multiple of four, else as four floats whose lanes past the
// last channel are never stored.
//
// Registered like singleChannelConv.ts: it wraps tfjs-webgpu's Conv2D, FusedConv2D, Conv2DBackpropInput and
// Conv2DBackpropFilter when the fused kernels start, and hands what it does not cover (one input channel, which
// singleChannelConv.ts computes; dilation; NCHW; a bias or an activation; the flag off) to the kernel it wraps.
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNELS_FLAG, whenFusedKernelsStart } from './programs';
import {
  UniformList,
  disposeInfo,
  flatten,
  guard,
  inside,
  kernelProgram,
  runKernel,
  unflatten,
  wrapKernel,
  shaderKeyOf,
  type KernelArgs,
  type KernelProgram,
  type ProgramParallelism,
} from './kernelBuilder';

/** Channels one invocation computes (a vec4's lanes), and output or input positions. */
const LANES = 4;
const POSITIONS = 4;
const J = Array.from({ length: POSITIONS }, (_, j) => j);
const K = Array.from({ length: LANES }, (_, k) => k);

/** The filter gradient's reduction split: at least this many invocations in the first pass when the batch allows… */
export const TARGET_INVOCATIONS = 32_768;
/** …each looping over at most this many output positions, and at least this many (else the partials outgrow it). */
export const MAX_CHUNK = 4096;
export const MIN_CHUNK = 128;

const CONV = new UniformList([
  'batch',
  'inHeight',
  'inWidth',
  'inChannels',
  'outHeight',
  'outWidth',
  'outChannels',
  'filterHeight',
  'filterWidth',
  'strideY',
  'strideX',
  'padTop',
  'padLeft',
  'invocations',
  'chunks',
  'chunkRows',
] as const);

/** Short names for the shape uniforms, as the formulas above write them. */
const SHAPE = `
  let N = uniforms.batch;
  let IH = uniforms.inHeight;
  let IW = uniforms.inWidth;
  let CI = uniforms.inChannels;
  let OH = uniforms.outHeight;
  let OW = uniforms.outWidth;
  let CO = uniforms.outChannels;
  let FH = uniforms.filterHeight;
  let FW = uniforms.filterWidth;
  let SY = uniforms.strideY;
  let SX = uniforms.strideX;
  let PT = uniforms.padTop;
  let PL = uniforms.padLeft;`;

/** Stores the first `lanes` (≥ 1) of v at result[at…]: lanes past a channel count that is not a multiple of 4 are not. */
const STORE_LANES = `
fn storeLanes(at : i32, v : vec4<f32>, lanes : i32) {
  result[at] = v.x;
  if (lanes > 1) { result[at + 1] = v.y; }
  if (lanes > 2) { result[at + 2] = v.z; }
  if (lanes > 3) { result[at + 3] = v.w; }
}`;

/** Four consecutive floats of `input` from `at` (a multiple of 4 when the input is read as vec4). */
const load4 = (input: string, vec4: boolean, at: string) =>
  vec4 ? `${input}[(${at}) / 4]` : `vec4<f32>(${input}[${at}], ${input}[${at} + 1], ${input}[${at} + 2], ${input}[${at} + 3])`;

export type ConvInfo = tf.backend_util.Conv2DInfo;

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

// ---------------------------------------------------------------------------------------------------- forward

const forwardName = (c: ConvInfo) => `conv_forward_${c.inChannels % 4 === 0 ? 'x4' : 'x1'}_${c.outChannels % 4 === 0 ? 'w4' : 'w1'}`;

/** The forward program's dispatch on `c`: 4 positions × 4 channels an invocation, looping over taps × input channels. */
export function forwardParallelism(c: ConvInfo): ProgramParallelism {
  const positions = c.batchSize * c.outHeight * c.outWidth;
  return {
    program: shaderKeyOf(forwardName(c)),
    invocations: ceilDiv(positions, POSITIONS) * ceilDiv(c.outChannels, LANES),
    serialLoop: c.filterHeight * c.filterWidth * (c.inChannels % 4 === 0 ? c.inChannels / 4 : c.inChannels),
  };
}

function forwardProgram(c: ConvInfo): KernelProgram {
  const xVec4 = c.inChannels % 4 === 0;
  const wVec4 = c.outChannels % 4 === 0;
  const { invocations, serialLoop } = forwardParallelism(c);
  // Built only when the program compiles (body), as the rest of its code.
  const inner = () => xVec4
    ? `for (var ci = 0; ci < CI; ci += 4) {
        ${K.map((k) => `let w${k} = ${load4('W', wVec4, `w + (ci + ${k}) * CO`)};`).join('\n        ')}
        ${J.map((j) => `let v${j} = ${load4('X', true, `x${j} + ci`)} * m${j};\n        acc${j} += v${j}.x * w0 + v${j}.y * w1 + v${j}.z * w2 + v${j}.w * w3;`).join('\n        ')}
      }`
    : `for (var ci = 0; ci < CI; ci++) {
        let wv = ${load4('W', wVec4, 'w + ci * CO')};
        ${J.map((j) => `acc${j} += X[x${j} + ci] * m${j} * wv;`).join('\n        ')}
      }`;
  return kernelProgram({
    name: forwardName(c),
    inputs: [
      { name: 'X', vec4: xVec4 },
      { name: 'W', vec4: wVec4 },
    ],
    outputSize: c.batchSize * c.outHeight * c.outWidth * c.outChannels,
    uniforms: CONV.declaration,
    helpers: STORE_LANES,
    invocations,
    serialLoop,
    body: () => `${guard('index', 'uniforms.invocations')}
  ${SHAPE}
  let coBlocks = (CO + 3) / 4;
  let co = (index % coBlocks) * 4;
  // ${POSITIONS} consecutive output positions (they may run on into the next row or image).
  let first = (index / coBlocks) * ${POSITIONS};
  let positions = N * OH * OW;
  ${J.map((j) => `let p${j} = first + ${j};\n  ${unflatten(`p${j}`, ['n', 'oy', 'ox'], ['N', 'OH', 'OW'], `q${j}_`)}\n  var acc${j} = vec4<f32>(0.0);`).join('\n  ')}
  for (var ky = 0; ky < FH; ky++) {
    for (var kx = 0; kx < FW; kx++) {
      // Where each position's window reads at this tap; outside the image (the padding) reads 0.
      ${J.map(
        (j) => `let iy${j} = q${j}_oy * SY - PT + ky;
      let ix${j} = q${j}_ox * SX - PL + kx;
      let ok${j} = p${j} < positions && ${inside([`iy${j}`, `ix${j}`], ['IH', 'IW'])};
      let x${j} = select(0, (${flatten([`q${j}_n`, `iy${j}`, `ix${j}`], ['N', 'IH', 'IW'])}) * CI, ok${j});
      let m${j} = select(0.0, 1.0, ok${j});`,
      ).join('\n      ')}
      let w = (ky * FW + kx) * CI * CO + co;
      ${inner()}
    }
  }
  ${J.map((j) => `if (p${j} < positions) { storeLanes(p${j} * CO + co, acc${j}, CO - co); }`).join('\n  ')}`,
  });
}

// --------------------------------------------------------------------------------------------- input gradient

/**
 * Positions of one row an input-gradient invocation covers: `POSITIONS` of one stride phase (x ≡ phase mod stride),
 * which all reach the output through the same taps, so that a tap is skipped for all of them or for none.
 */
const rowTiles = (c: ConvInfo) => ceilDiv(ceilDiv(c.inWidth, c.strideWidth), POSITIONS);

const inputGradName = (c: ConvInfo) => `conv_input_grad_${c.outChannels % 4 === 0 ? 'dy4' : 'dy1'}`;

/** The input-gradient program's dispatch on `c`: its loop runs over the taps that reach an output (⌈3/2⌉² at stride 2). */
export function inputGradParallelism(c: ConvInfo): ProgramParallelism {
  const taps = ceilDiv(c.filterHeight, c.strideHeight) * ceilDiv(c.filterWidth, c.strideWidth);
  return {
    program: shaderKeyOf(inputGradName(c)),
    invocations: c.batchSize * c.inHeight * c.strideWidth * rowTiles(c) * ceilDiv(c.inChannels, LANES),
    serialLoop: taps * (c.outChannels % 4 === 0 ? c.outChannels / 4 : c.outChannels),
  };
}

function inputGradProgram(c: ConvInfo): KernelProgram {
  const dyVec4 = c.outChannels % 4 === 0;
  const { invocations, serialLoop } = inputGradParallelism(c);
  // Built only when the program compiles (body), as the rest of its code.
  const inner = () => dyVec4
    ? `for (var co = 0; co < CO; co += 4) {
        ${K.map((k) => `let w${k} = ${load4('W', true, `w + ${k} * CO + co`)};`).join('\n        ')}
        ${J.map((j) => `let g${j} = ${load4('DY', true, `d${j} + co`)} * m${j};\n        acc${j} += vec4<f32>(dot(g${j}, w0), dot(g${j}, w1), dot(g${j}, w2), dot(g${j}, w3));`).join('\n        ')}
      }`
    : `for (var co = 0; co < CO; co++) {
        let wv = vec4<f32>(W[w + co], W[w + CO + co], W[w + 2 * CO + co], W[w + 3 * CO + co]);
        ${J.map((j) => `acc${j} += DY[d${j} + co] * m${j} * wv;`).join('\n        ')}
      }`;
  return kernelProgram({
    name: inputGradName(c),
    inputs: [
      { name: 'DY', vec4: dyVec4 },
      { name: 'W', vec4: dyVec4 },
    ],
    outputSize: c.batchSize * c.inHeight * c.inWidth * c.inChannels,
    uniforms: CONV.declaration,
    helpers: STORE_LANES,
    invocations,
    serialLoop,
    body: () => `${guard('index', 'uniforms.invocations')}
  ${SHAPE}
  let ciBlocks = (CI + 3) / 4;
  let rowTiles = ((IW + SX - 1) / SX + ${POSITIONS - 1}) / ${POSITIONS};
  let ci = (index % ciBlocks) * 4;
  let tile = index / ciBlocks;
  ${unflatten('tile', ['n', 'iy', 'phase', 'q'], ['N', 'IH', 'SX', 'rowTiles'])}
  // Input columns ix0 + SX · j: one stride phase.
  let ix0 = phase + SX * q * ${POSITIONS};
  ${J.map((j) => `var acc${j} = vec4<f32>(0.0);`).join('\n  ')}
  for (var ky = 0; ky < FH; ky++) {
    let ty = iy + PT - ky;
    if (ty < 0 || ty % SY != 0) { continue; }
    let oy = ty / SY;
    if (oy >= OH) { continue; }
    for (var kx = 0; kx < FW; kx++) {
      // The same remainder for every column of the tile: they are SX apart.
      let tx = ix0 + PL - kx;
      if (tx % SX != 0) { continue; }
      let ox0 = tx / SX;
      ${J.map(
        (j) => `let ok${j} = ix0 + SX * ${j} < IW && ox0 + ${j} >= 0 && ox0 + ${j} < OW;
      let d${j} = select(0, (${flatten(['n', 'oy', `ox0 + ${j}`], ['N', 'OH', 'OW'])}) * CO, ok${j});
      let m${j} = select(0.0, 1.0, ok${j});`,
      ).join('\n      ')}
      let w = ((ky * FW + kx) * CI + ci) * CO;
      ${inner()}
    }
  }
  ${J.map((j) => `if (ix0 + SX * ${j} < IW) { storeLanes((${flatten(['n', 'iy', `ix0 + SX * ${j}`], ['N', 'IH', 'IW'])}) * CI + ci, acc${j}, CI - ci); }`).join('\n  ')}`,
  });
}

// -------------------------------------------------------------------------------------------- filter gradient

/** Tiles of the filter gradient: 4 input × 4 output channels at one tap. */
const filterTiles = (c: ConvInfo) => c.filterHeight * c.filterWidth * ceilDiv(c.inChannels, LANES) * ceilDiv(c.outChannels, LANES);

/**
 * How the filter gradient's reduction over the batch's output positions is split: into `chunks` of `chunkRows` whole
 * output rows (an image's row of `rowLength` positions), so that the first pass has TARGET_INVOCATIONS invocations
 * where the batch has the positions (a GPU wants tens of thousands in flight), no invocation loops over more than
 * MAX_CHUNK positions, and none over fewer than MIN_CHUNK (each chunk costs a partial tile to write and to add up).
 * Whole rows, because along a row the tap's valid columns are one range: the loop over them needs no bounds check.
 */
export function filterGradSplit(rows: number, rowLength: number, tiles: number): { chunks: number; chunkRows: number } {
  const wanted = ceilDiv(TARGET_INVOCATIONS, tiles);
  const fewest = Math.max(1, ceilDiv(MIN_CHUNK, rowLength));
  const most = Math.max(1, Math.floor(MAX_CHUNK / rowLength));
  const chunks = ceilDiv(rows, Math.min(most, Math.max(fewest, ceilDiv(rows, wanted))));
  // Even chunks: the same number of chunks, none longer than needed.
  return { chunks, chunkRows: ceilDiv(rows, chunks) };
}

const splitOf = (c: ConvInfo) => filterGradSplit(c.batchSize * c.outHeight, c.outWidth, filterTiles(c));

const partialsName = (c: ConvInfo) => `conv_filter_grad_partials_${c.inChannels % 4 === 0 ? 'x4' : 'x1'}_${c.outChannels % 4 === 0 ? 'dy4' : 'dy1'}`;
const SUM_NAME = 'conv_filter_grad_sum';

/** The filter gradient's dispatches on `c`: the partial tiles, then (past one chunk) their sum, one invocation a weight. */
export function filterGradParallelism(c: ConvInfo): ProgramParallelism[] {
  const { chunks, chunkRows } = splitOf(c);
  const partials = { program: shaderKeyOf(partialsName(c)), invocations: chunks * filterTiles(c), serialLoop: chunkRows * c.outWidth };
  if (chunks === 1) return [partials];
  return [partials, { program: shaderKeyOf(SUM_NAME), invocations: c.filterHeight * c.filterWidth * c.inChannels * c.outChannels, serialLoop: chunks }];
}

/**
 * Every dispatch of one training step of a convolution these programs cover; `inputGradient` false for a network's
 * first layer, whose input gradient a step does not compute (convLayer.ts).
 */
export function convolutionParallelism(c: ConvInfo, inputGradient = true): ProgramParallelism[] {
  return [forwardParallelism(c), ...(inputGradient ? [inputGradParallelism(c)] : []), ...filterGradParallelism(c)];
}

function filterGradPartialsProgram(c: ConvInfo, chunks: number): KernelProgram {
  const xVec4 = c.inChannels % 4 === 0;
  const dyVec4 = c.outChannels % 4 === 0;
  const { invocations, serialLoop } = filterGradParallelism(c)[0]!;
  return kernelProgram({
    name: partialsName(c),
    inputs: [
      { name: 'X', vec4: xVec4 },
      { name: 'DY', vec4: dyVec4 },
    ],
    outputSize: chunks * c.filterHeight * c.filterWidth * c.inChannels * c.outChannels,
    uniforms: CONV.declaration,
    helpers: STORE_LANES,
    invocations,
    serialLoop,
    body: () => `${guard('index', 'uniforms.invocations')}
  ${SHAPE}
  let ciBlocks = (CI + 3) / 4;
  let coBlocks = (CO + 3) / 4;
  ${unflatten('index', ['chunk', 'tap', 'cib', 'cob'], ['uniforms.chunks', 'FH * FW', 'ciBlocks', 'coBlocks'])}
  let ci = cib * 4;
  let co = cob * 4;
  let ky = tap / FW;
  let kx = tap % FW;
  // The output columns whose window reaches inside the image at this tap: ox · SX − PL + kx in [0, IW).
  let before = PL - kx;
  let oxStart = select(0, (before + SX - 1) / SX, before > 0);
  let last = IW - 1 + PL - kx;
  let oxStop = select(0, min(OW, last / SX + 1), last >= 0);
  let rowStart = chunk * uniforms.chunkRows;
  let rowStop = min(rowStart + uniforms.chunkRows, N * OH);
  ${K.map((k) => `var acc${k} = vec4<f32>(0.0);`).join('\n  ')}
  for (var r = rowStart; r < rowStop; r++) {
    let n = r / OH;
    let iy = (r % OH) * SY - PT + ky;
    if (iy < 0 || iy >= IH) { continue; }
    let xRow = (n * IH + iy) * IW;
    let dyRow = r * OW;
    for (var ox = oxStart; ox < oxStop; ox++) {
      let xv = ${load4('X', xVec4, '(xRow + ox * SX - PL + kx) * CI + ci')};
      let g = ${load4('DY', dyVec4, '(dyRow + ox) * CO + co')};
      ${K.map((k) => `acc${k} += xv[${k}] * g;`).join('\n      ')}
    }
  }
  let out = chunk * FH * FW * CI * CO + (tap * CI + ci) * CO + co;
  ${K.map((k) => `if (ci + ${k} < CI) { storeLanes(out + ${k} * CO, acc${k}, CO - co); }`).join('\n  ')}`,
  });
}

function filterGradSumProgram(size: number, chunks: number): KernelProgram {
  return kernelProgram({
    name: SUM_NAME,
    inputs: [{ name: 'P' }],
    outputSize: size,
    uniforms: CONV.declaration,
    invocations: size,
    serialLoop: chunks,
    body: () => `${guard('index', 'uniforms.invocations')}
  var sum = 0.0;
  for (var k = 0; k < uniforms.chunks; k++) { sum += P[k * uniforms.invocations + index]; }
  result[index] = sum;`,
  });
}

// ---------------------------------------------------------------------------------------------------- kernels

function uniforms(c: ConvInfo, invocations: number, chunks = 1, chunkRows = 0) {
  return CONV.values({
    batch: c.batchSize,
    inHeight: c.inHeight,
    inWidth: c.inWidth,
    inChannels: c.inChannels,
    outHeight: c.outHeight,
    outWidth: c.outWidth,
    outChannels: c.outChannels,
    filterHeight: c.filterHeight,
    filterWidth: c.filterWidth,
    strideY: c.strideHeight,
    strideX: c.strideWidth,
    padTop: c.padInfo.top,
    padLeft: c.padInfo.left,
    invocations,
    chunks,
    chunkRows,
  });
}

/** A convolution these programs compute: two or more input channels, NHWC, no dilation, the fused kernels on. */
export function coveredConvolution(c: ConvInfo): boolean {
  return (
    c.inChannels > 1 &&
    c.dataFormat === 'channelsLast' &&
    c.dilationHeight === 1 &&
    c.dilationWidth === 1 &&
    tf.env().getBool(FUSED_KERNELS_FLAG)
  );
}

const convInfo = (a: KernelArgs['attrs'], xShape: number[], filterShape: number[], dilations: number | [number, number] = 1) =>
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

const isFloat = (...ts: (tf.TensorInfo | null | undefined)[]) => ts.every((t) => t?.dtype === 'float32');

/**
 * The three passes on a convolution `c` that coveredConvolution accepts, on float32 tensors of any shape whose sizes are
 * c's (the programs read them flat): the result is c's output, input or filter, owned by the caller. What the kernels
 * below run, and what denseLayer.ts runs a dense layer as (a 1×1 convolution of 1×1 images).
 */
export function convForward(backend: KernelArgs['backend'], c: ConvInfo, x: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  const program = forwardProgram(c);
  const out = runKernel(backend, program, [x, filter], uniforms(c, program.parallelism.invocations));
  return { dataId: out.dataId, shape: c.outShape, dtype: 'float32' };
}

export function convInputGrad(backend: KernelArgs['backend'], c: ConvInfo, dy: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  const program = inputGradProgram(c);
  const out = runKernel(backend, program, [dy, filter], uniforms(c, program.parallelism.invocations));
  return { dataId: out.dataId, shape: c.inShape, dtype: 'float32' };
}

export function convFilterGrad(backend: KernelArgs['backend'], c: ConvInfo, x: tf.TensorInfo, dy: tf.TensorInfo): tf.TensorInfo {
  const { chunks, chunkRows } = splitOf(c);
  const partialsProgram = filterGradPartialsProgram(c, chunks);
  const partials = runKernel(backend, partialsProgram, [x, dy], uniforms(c, partialsProgram.parallelism.invocations, chunks, chunkRows));
  if (chunks === 1) return { dataId: partials.dataId, shape: c.filterShape, dtype: 'float32' };
  const total = sumChunks(backend, partials, c.filterHeight * c.filterWidth * c.inChannels * c.outChannels, chunks);
  return { dataId: total.dataId, shape: c.filterShape, dtype: 'float32' };
}

/**
 * The second pass of a reduction split into chunks: per output value, the sum of `chunks` partial arrays of `size`
 * values laid one after another. Frees the partials (the backend keeps their buffer until the sum has run).
 */
export function sumChunks(backend: KernelArgs['backend'], partials: tf.TensorInfo, size: number, chunks: number): tf.TensorInfo {
  const sizes = CONV.values({ ...ZERO_SHAPE, invocations: size, chunks, chunkRows: 0 });
  const total = runKernel(backend, filterGradSumProgram(size, chunks), [partials], sizes);
  disposeInfo(backend, partials);
  return total;
}

/** The convolution's shape uniforms, for a program that reads none of them. */
const ZERO_SHAPE = {
  batch: 0,
  inHeight: 0,
  inWidth: 0,
  inChannels: 0,
  outHeight: 0,
  outWidth: 0,
  outChannels: 0,
  filterHeight: 0,
  filterWidth: 0,
  strideY: 0,
  strideX: 0,
  padTop: 0,
  padLeft: 0,
};

function forward({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = inputs;
  if (bias || preluActivationWeights || (attrs['activation'] && attrs['activation'] !== 'linear') || !isFloat(x, filter)) return null;
  const c = convInfo(attrs, x!.shape, filter!.shape, attrs['dilations'] as number);
  return coveredConvolution(c) ? convForward(backend, c, x!, filter!) : null;
}

function inputGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { dy, filter } = inputs;
  if (!isFloat(dy, filter)) return null;
  const c = convInfo(attrs, attrs['inputShape'] as number[], filter!.shape);
  return coveredConvolution(c) ? convInputGrad(backend, c, dy!, filter!) : null;
}

function filterGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  if (!isFloat(x, dy)) return null;
  const c = convInfo(attrs, x!.shape, attrs['filterShape'] as number[]);
  return coveredConvolution(c) ? convFilterGrad(backend, c, x!, dy!) : null;
}

/** Wraps tfjs-webgpu's convolution kernels, once, when the fused kernels first run (as singleChannelConv.ts does). */
function wrapConvolutions(): void {
  wrapKernel('FusedConv2D', forward);
  wrapKernel('Conv2D', forward);
  wrapKernel('Conv2DBackpropInput', inputGrad);
  wrapKernel('Conv2DBackpropFilter', filterGrad);
}

whenFusedKernelsStart(wrapConvolutions);
