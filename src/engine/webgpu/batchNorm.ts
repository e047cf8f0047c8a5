// Batch normalisation in training mode on WebGPU as three or four programs forward and three or four backward,
// instead of the ~40 small tfjs ops (moments, the normalisation, the moving averages, and their gradients through
// broadcasting reductions) it takes op by op. Forward: per-chunk means and squared deviations, their combination per
// channel (Chan et al.'s parallel variance) with the moving averages, and the normalisation. Backward: per-chunk Σdy
// and Σdy·x̂, their sums (the gradients of beta and gamma), and dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)).
// The same maths as tfjs-layers' BatchNormalization (biased batch variance, moving averages
// m ← m − (m − batch)·(1 − momentum), y = (x − mean)·γ/√(var + ε) + β), to float32 rounding.
//
// The per-channel stage runs one invocation per channel: over many chunks (512 views of 96 px are 74,000 chunks of 64
// rows) that is one long dependent loop while the GPU idles, so past DIRECT_CHUNKS chunks a middle pass first combines
// groups of about √chunks chunks, one invocation per group and channel (batchNormGeometry, batchNormParallelism).
// A small layer (at most DIRECT_ROWS rows: a head's batch, a late convolution of a small batch) has too few rows for
// chunks to be worth a dispatch: one invocation per channel reads them all, and each way takes one dispatch fewer.
import * as tf from '@tensorflow/tfjs';
import type { ProgramParallelism } from './limits';
import { disposeInfo, kernelProgram, runKernel, type KernelProgram } from './kernelBuilder';
import { copyRegions, fusedBackend, uninitialisedInfo, writeTargets, type ProgramUniform, type WebGPUBackendInternals } from './programs';
import { reluGradOf, reluOf } from './reluLayer';
import { withoutUnusedDys } from '../tape';

/** Rows one invocation reduces: enough invocations for a GPU, few enough partial rows to add up. */
const ROWS_PER_CHUNK = 64;

/**
 * Up to this many chunks the per-channel stage reads the chunks directly (at most 256 steps in its loop, and one
 * dispatch fewer, which small layers on a GPU feel most); beyond, it reads the groups of a middle pass.
 */
export const DIRECT_CHUNKS = 256;

/** Up to this many rows one invocation per channel reduces them all (two programs each way, not three). */
export const DIRECT_ROWS = 256;

const SIZES = 'rows : i32, channels : i32, rowsPerChunk : i32, chunks : i32,';

// The sums a chunk of rows and a whole small layer both take, so that the chunked and the direct programs agree.
// Over rows [start, stop) of channel c: the mean and Σ(x − mean)², summed about the first row so that a large offset
// (activations around 50) costs no precision in the sum.
const ROW_MOMENTS = `
fn rowMoments(c : i32, start : i32, stop : i32) -> vec2<f32> {
  let shift = X[start * uniforms.channels + c];
  var sum = 0.0;
  for (var r = start; r < stop; r++) { sum += X[r * uniforms.channels + c] - shift; }
  let mean = shift + sum / f32(stop - start);
  var m2 = 0.0;
  for (var r = start; r < stop; r++) {
    let d = X[r * uniforms.channels + c] - mean;
    m2 += d * d;
  }
  return vec2<f32>(mean, m2);
}`;

// A batch norm a ReLU follows (rectified: batchNormLayer.ts) writes relu(y) forward, and backward takes dy through the
// ReLU first, from that output Y, with reluLayer.ts's own formulas; the programs read dy through dyAt there, and DY
// itself otherwise.
const dyAt = (rectified: boolean, at: string) => (rectified ? `dyAt(${at})` : `DY[${at}]`);
const DY_THROUGH_RELU = `
fn dyAt(i : i32) -> f32 {
  let y = Y[i];
  return ${reluGradOf('y', 'DY[i]')};
}`;
const gradInputs = (rectified: boolean) => [{ name: 'X' }, { name: 'DY' }, { name: 'S' }, ...(rectified ? [{ name: 'Y' }] : [])];
const named = (name: string, rectified: boolean) => (rectified ? `${name}_relu` : name);

// Over rows [start, stop) of channel c: Σdy and Σdy·x̂, x̂ from the batch's statistics S.
const rowGradSums = (rectified: boolean) => `${rectified ? DY_THROUGH_RELU : ''}
fn rowGradSums(c : i32, start : i32, stop : i32) -> vec2<f32> {
  let mean = S[c];
  let inv = inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var r = start; r < stop; r++) {
    let at = r * uniforms.channels + c;
    let dy = ${dyAt(rectified, 'at')};
    sumDy += dy;
    sumDyXhat += dy * (X[at] - mean) * inv;
  }
  return vec2<f32>(sumDy, sumDyXhat);
}`;

// Chunks [first, last) of channel c's partials P, [mean, Σ(x − mean)²] per chunk, combined Chan et al.'s way.
const COMBINE_MOMENTS = `
fn combineMoments(c : i32, first : i32, last : i32) -> vec2<f32> {
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = first; k < last; k++) {
    let nb = f32(min(uniforms.rowsPerChunk, uniforms.rows - k * uniforms.rowsPerChunk));
    let at = 2 * (k * uniforms.channels + c);
    let delta = P[at] - mean;
    let total = n + nb;
    mean += delta * nb / total;
    m2 += P[at + 1] + delta * delta * n * nb / total;
    n = total;
  }
  return vec2<f32>(mean, m2);
}`;

// Chunks [first, last) of channel c's partials P, [Σdy, Σdy·x̂] per chunk, added up.
const ADD_GRAD_SUMS = `
fn addGradSums(c : i32, first : i32, last : i32) -> vec2<f32> {
  var sums = vec2<f32>(0.0);
  for (var k = first; k < last; k++) {
    let at = 2 * (k * uniforms.channels + c);
    sums += vec2<f32>(P[at], P[at + 1]);
  }
  return sums;
}`;

// Per (chunk, channel): the chunk's mean and Σ(x − chunk mean)², two passes over its rows.
const momentsPartials = (threads: number) =>
  kernelProgram({
    name: 'bn_moments_partials',
    inputs: [{ name: 'X' }],
    outputSize: 2 * threads,
    uniforms: SIZES,
    invocations: threads,
    serialLoop: 2 * ROWS_PER_CHUNK,
    body: () => `
  if (index >= uniforms.chunks * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let start = (index / uniforms.channels) * uniforms.rowsPerChunk;
  let moments = rowMoments(c, start, min(start + uniforms.rowsPerChunk, uniforms.rows));
  result[2 * index] = moments.x;
  result[2 * index + 1] = moments.y;`,
    helpers: ROW_MOMENTS,
  });

// Per (group, channel): the group's chunks combined, Chan et al.'s way, into its mean and Σ(x − mean)², laid out as the
// chunks' are, so that the per-channel stage reads groups as it would read chunks.
const momentsCombine = (threads: number, perGroup: number) =>
  kernelProgram({
    name: 'bn_moments_combine',
    inputs: [{ name: 'P' }],
    outputSize: 2 * threads,
    uniforms: `${SIZES} perGroup : i32, groups : i32,`,
    invocations: threads,
    serialLoop: perGroup,
    body: () => `
  if (index >= uniforms.groups * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let first = (index / uniforms.channels) * uniforms.perGroup;
  let moments = combineMoments(c, first, min(first + uniforms.perGroup, uniforms.chunks));
  result[2 * index] = moments.x;
  result[2 * index + 1] = moments.y;`,
    helpers: COMBINE_MOMENTS,
  });

// Per channel: [mean, variance, new moving mean, new moving variance], each row `channels` long.
const momentsTotals = (channels: number, items: number) =>
  kernelProgram({
    name: 'bn_moments_totals',
    inputs: [{ name: 'P' }, { name: 'MM' }, { name: 'MV' }],
    outputSize: 4 * channels,
    uniforms: `${SIZES} decay : f32,`,
    invocations: channels,
    serialLoop: items,
    body: () => `
  if (index >= uniforms.channels) { return; }
  let moments = combineMoments(index, 0, uniforms.chunks);
  let mean = moments.x;
  let variance = moments.y / f32(uniforms.rows);
  let mm = MM[index];
  let mv = MV[index];
  result[index] = mean;
  result[uniforms.channels + index] = variance;
  result[2 * uniforms.channels + index] = mm - (mm - mean) * uniforms.decay;
  result[3 * uniforms.channels + index] = mv - (mv - variance) * uniforms.decay;`,
    helpers: COMBINE_MOMENTS,
  });

// A small layer's statistics, one invocation per channel over every row: what the partials and totals programs
// compute together, [mean, variance, new moving mean, new moving variance] each `channels` long.
const momentsDirect = (rows: number, channels: number): KernelProgram =>
  kernelProgram({
    name: 'bn_moments_direct',
    inputs: [{ name: 'X' }, { name: 'MM' }, { name: 'MV' }],
    outputSize: 4 * channels,
    uniforms: `${SIZES} decay : f32,`,
    invocations: channels,
    serialLoop: 2 * rows,
    body: () => `if (index >= uniforms.channels) { return; }
  let moments = rowMoments(index, 0, uniforms.rows);
  let mean = moments.x;
  let variance = moments.y / f32(uniforms.rows);
  let mm = MM[index];
  let mv = MV[index];
  result[index] = mean;
  result[uniforms.channels + index] = variance;
  result[2 * uniforms.channels + index] = mm - (mm - mean) * uniforms.decay;
  result[3 * uniforms.channels + index] = mv - (mv - variance) * uniforms.decay;`,
    helpers: ROW_MOMENTS,
  });

// A small layer's [Σdy | Σdy·x̂], one invocation per channel over every row.
const gradDirect = (rows: number, channels: number, rectified: boolean): KernelProgram =>
  kernelProgram({
    name: named('bn_grad_direct', rectified),
    inputs: gradInputs(rectified),
    outputSize: 2 * channels,
    uniforms: `${SIZES} epsilon : f32,`,
    invocations: channels,
    serialLoop: rows,
    body: () => `if (index >= uniforms.channels) { return; }
  let sums = rowGradSums(index, 0, uniforms.rows);
  result[index] = sums.x;
  result[uniforms.channels + index] = sums.y;`,
    helpers: () => rowGradSums(rectified),
  });

// tfjs's BatchNormProgram's formula, so that the two paths round alike; rectified, then reluLayer.ts's.
const normalize = (size: number, rectified: boolean) =>
  kernelProgram({
    name: named('bn_normalize', rectified),
    inputs: [{ name: 'X' }, { name: 'S' }, { name: 'Gamma' }, { name: 'Beta' }],
    outputSize: size,
    uniforms: `${SIZES} epsilon : f32,`,
    invocations: size,
    serialLoop: 1,
    body: () => `
  if (index >= uniforms.rows * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let inv = Gamma[c] * inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  let y = dot(vec3<f32>(X[index], -S[c], Beta[c]), vec3<f32>(inv, inv, 1.0));
  result[index] = ${rectified ? reluOf('y') : 'y'};`,
  });

// Per (chunk, channel): Σdy and Σdy·x̂.
const gradPartials = (threads: number, rectified: boolean) =>
  kernelProgram({
    name: named('bn_grad_partials', rectified),
    inputs: gradInputs(rectified),
    outputSize: 2 * threads,
    uniforms: `${SIZES} epsilon : f32,`,
    invocations: threads,
    serialLoop: ROWS_PER_CHUNK,
    body: () => `
  if (index >= uniforms.chunks * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let start = (index / uniforms.channels) * uniforms.rowsPerChunk;
  let sums = rowGradSums(c, start, min(start + uniforms.rowsPerChunk, uniforms.rows));
  result[2 * index] = sums.x;
  result[2 * index + 1] = sums.y;`,
    helpers: () => rowGradSums(rectified),
  });

// Per (group, channel): the group's chunks' Σdy and Σdy·x̂ added up, laid out as the chunks' are.
const gradCombine = (threads: number, perGroup: number) =>
  kernelProgram({
    name: 'bn_grad_combine',
    inputs: [{ name: 'P' }],
    outputSize: 2 * threads,
    uniforms: `${SIZES} perGroup : i32, groups : i32,`,
    invocations: threads,
    serialLoop: perGroup,
    body: () => `
  if (index >= uniforms.groups * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let first = (index / uniforms.channels) * uniforms.perGroup;
  let sums = addGradSums(c, first, min(first + uniforms.perGroup, uniforms.chunks));
  result[2 * index] = sums.x;
  result[2 * index + 1] = sums.y;`,
    helpers: ADD_GRAD_SUMS,
  });

// Per channel: [Σdy (beta's gradient), Σdy·x̂ (gamma's)], each row `channels` long.
const gradTotals = (channels: number, items: number) =>
  kernelProgram({
    name: 'bn_grad_totals',
    inputs: [{ name: 'P' }],
    outputSize: 2 * channels,
    uniforms: SIZES,
    invocations: channels,
    serialLoop: items,
    body: () => `
  if (index >= uniforms.channels) { return; }
  let sums = addGradSums(index, 0, uniforms.chunks);
  result[index] = sums.x;
  result[uniforms.channels + index] = sums.y;`,
    helpers: ADD_GRAD_SUMS,
  });

const gradInput = (size: number, rectified: boolean) =>
  kernelProgram({
    name: named('bn_grad_input', rectified),
    inputs: [{ name: 'X' }, { name: 'DY' }, { name: 'S' }, { name: 'Gamma' }, { name: 'T' }, ...(rectified ? [{ name: 'Y' }] : [])],
    outputSize: size,
    uniforms: `${SIZES} epsilon : f32,`,
    invocations: size,
    serialLoop: 1,
    body: () => `
  if (index >= uniforms.rows * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let inv = inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  let xhat = (X[index] - S[c]) * inv;
  let m = f32(uniforms.rows);
  result[index] = Gamma[c] * inv / m * (m * ${dyAt(rectified, 'index')} - T[c] - xhat * T[uniforms.channels + c]);`,
    helpers: rectified ? DY_THROUGH_RELU : undefined,
  });

/** What the layer keeps between steps: tfjs-layers' LayerVariable (read, write). */
export interface MovingStatistic {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

export interface BatchNormSettings {
  epsilon: number;
  momentum: number;
  movingMean: MovingStatistic;
  movingVariance: MovingStatistic;
}

// Registered tfjs kernels (WebGPU only), so that the tape records one node per layer, saves what the gradient
// needs, and tf.profile names them.
export const BATCH_NORM_TRAINING = 'TabclrBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'TabclrBatchNormTrainingGrad';
// The same followed by a ReLU: its own kernels, because the gradient also saves the output (the ReLU's mask).
export const BATCH_NORM_RELU_TRAINING = 'TabclrBatchNormReluTraining';
export const BATCH_NORM_RELU_TRAINING_GRAD = 'TabclrBatchNormReluTrainingGrad';

/** How one batch norm's reductions are cut: chunks of rows, and (past DIRECT_CHUNKS chunks) groups of chunks. */
export interface BatchNormGeometry {
  rows: number;
  channels: number;
  /** At most DIRECT_ROWS rows: one invocation per channel over all of them, no chunks. */
  direct: boolean;
  chunks: number;
  /** Chunks per group of the middle pass; 0 when there is none. */
  perGroup: number;
  groups: number;
}

/** The geometry of a batch norm over the last axis of an input of this shape. */
export function batchNormGeometry(shape: readonly number[]): BatchNormGeometry {
  const channels = shape[shape.length - 1]!;
  const rows = shape.reduce((a, b) => a * b, 1) / channels;
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  const direct = rows <= DIRECT_ROWS;
  if (chunks <= DIRECT_CHUNKS) return { rows, channels, direct, chunks, perGroup: 0, groups: 0 };
  const perGroup = Math.ceil(Math.sqrt(chunks));
  return { rows, channels, direct, chunks, perGroup, groups: Math.ceil(chunks / perGroup) };
}

/**
 * Invocations and the longest serial loop of each dispatch of one batch norm, forward then backward, for an input of
 * this shape (channels last), in the order they run; `rectified`: with the ReLU that follows it.
 */
export function batchNormParallelism(shape: readonly number[], rectified = false): ProgramParallelism[] {
  return batchNormPrograms(batchNormGeometry(shape), rectified).map((p) => p.parallelism);
}

/** The programs of one batch norm of this geometry, forward then backward, in the order they run. */
function batchNormPrograms(g: BatchNormGeometry, rectified: boolean): KernelProgram[] {
  const { rows, channels, chunks, perGroup, groups } = g;
  if (g.direct) return [momentsDirect(rows, channels), normalize(rows * channels, rectified), gradDirect(rows, channels, rectified), gradInput(rows * channels, rectified)];
  const items = perGroup > 0 ? groups : chunks;
  const middle = (program: (threads: number, perGroup: number) => KernelProgram) => (perGroup > 0 ? [program(groups * channels, perGroup)] : []);
  return [
    momentsPartials(chunks * channels),
    ...middle(momentsCombine),
    momentsTotals(channels, items),
    normalize(rows * channels, rectified),
    gradPartials(chunks * channels, rectified),
    ...middle(gradCombine),
    gradTotals(channels, items),
    gradInput(rows * channels, rectified),
  ];
}

const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

/** The uniforms of the programs that read chunks: rows, channels, rows per chunk, chunks. */
const chunkSizes = (g: BatchNormGeometry) => [g.rows, g.channels, ROWS_PER_CHUNK, g.chunks].map(int);

/** The per-channel stage's: the groups, when there are, stand for chunks of perGroup × 64 rows. */
const itemSizes = (g: BatchNormGeometry) =>
  g.perGroup > 0 ? [g.rows, g.channels, g.perGroup * ROWS_PER_CHUNK, g.groups].map(int) : chunkSizes(g);

/** The middle pass's output when there is one (the chunks' partials disposed), else the partials themselves. */
function combined(b: WebGPUBackendInternals, program: (threads: number, perGroup: number) => KernelProgram, partials: tf.TensorInfo, g: BatchNormGeometry): tf.TensorInfo {
  if (g.perGroup === 0) return partials;
  const groups = runKernel(b, program(g.groups * g.channels, g.perGroup), [partials], [...chunkSizes(g), int(g.perGroup), int(g.groups)]);
  disposeInfo(b, partials);
  return groups;
}


const reshaped = (info: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: info.dataId, shape, dtype: info.dtype });

type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown };

// Outputs: y (x's shape; relu(y) rectified) and the statistics [mean | variance | new moving mean | new moving variance].
const forwardKernel = (rectified: boolean) => ({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] => {
  const b = backend as WebGPUBackendInternals;
  const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<string, tf.TensorInfo>;
  const { epsilon, decay } = attrs as { epsilon: number; decay: number };
  const g = batchNormGeometry(x!.shape);
  const decayUniform: ProgramUniform = { type: 'float32', data: [decay] };
  let stats: tf.TensorInfo;
  if (g.direct) {
    stats = runKernel(b, momentsDirect(g.rows, g.channels), [x!, movingMean!, movingVariance!], [...chunkSizes(g), decayUniform]);
  } else {
    const partials = runKernel(b, momentsPartials(g.chunks * g.channels), [x!], chunkSizes(g));
    const items = combined(b, momentsCombine, partials, g);
    stats = runKernel(b, momentsTotals(g.channels, g.perGroup > 0 ? g.groups : g.chunks), [items, movingMean!, movingVariance!], [...itemSizes(g), decayUniform]);
    disposeInfo(b, items);
  }
  const y = runKernel(b, normalize(g.rows * g.channels, rectified), [x!, stats, gamma!, beta!], [...chunkSizes(g), { type: 'float32', data: [epsilon] }]);
  return [reshaped(y, x!.shape), stats];
};

// Outputs: dx, dgamma, dbeta. Rectified, dy is the ReLU's upstream gradient and y the forward's output.
const gradKernel = (rectified: boolean) => ({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] => {
  const b = backend as WebGPUBackendInternals;
  const { x, dy, stats, gamma, y } = inputs as Record<string, tf.TensorInfo>;
  const reads = rectified ? [x!, dy!, stats!, y!] : [x!, dy!, stats!];
  const { epsilon } = attrs as { epsilon: number };
  const g = batchNormGeometry(x!.shape);
  const eps = { type: 'float32' as const, data: [epsilon] };
  let totals: tf.TensorInfo;
  if (g.direct) {
    totals = runKernel(b, gradDirect(g.rows, g.channels, rectified), reads, [...chunkSizes(g), eps]);
  } else {
    const partials = runKernel(b, gradPartials(g.chunks * g.channels, rectified), reads, [...chunkSizes(g), eps]);
    const items = combined(b, gradCombine, partials, g);
    totals = runKernel(b, gradTotals(g.channels, g.perGroup > 0 ? g.groups : g.chunks), [items], itemSizes(g));
    disposeInfo(b, items);
  }
  const dx = runKernel(b, gradInput(g.rows * g.channels, rectified), [x!, dy!, stats!, gamma!, totals, ...(rectified ? [y!] : [])], [...chunkSizes(g), eps]);
  const dBeta = uninitialisedInfo(b, [g.channels]);
  const dGamma = uninitialisedInfo(b, [g.channels]);
  copyRegions(b, [
    { src: totals, srcOffset: 0, dst: dBeta, dstOffset: 0, count: g.channels },
    { src: totals, srcOffset: g.channels, dst: dGamma, dstOffset: 0, count: g.channels },
  ]);
  disposeInfo(b, totals);
  return [reshaped(dx, x!.shape), reshaped(dGamma, gamma!.shape), reshaped(dBeta, gamma!.shape)];
};

if (!tf.getKernel(BATCH_NORM_TRAINING, 'webgpu')) {
  for (const rectified of [false, true]) {
    const [forward, grad] = rectified ? [BATCH_NORM_RELU_TRAINING, BATCH_NORM_RELU_TRAINING_GRAD] : [BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD];
    tf.registerKernel({ kernelName: forward, backendName: 'webgpu', kernelFunc: forwardKernel(rectified) as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: grad, backendName: 'webgpu', kernelFunc: gradKernel(rectified) as unknown as tf.KernelFunc });
    tf.registerGradient({
      kernelName: forward,
      inputsToSave: ['x', 'gamma'],
      outputsToSave: [rectified, true],
      gradFunc: (dy, saved, attrs) => {
        // Saved: the inputs, then the outputs kept, in order.
        const [x, gamma, ...outputs] = saved as tf.Tensor[];
        const [y, stats] = rectified ? outputs : [undefined, outputs[0]];
        const upstream = (Array.isArray(dy) ? dy[0] : dy)!;
        const [dx, dGamma, dBeta] = tf.engine().runKernel(grad, { x: x!, dy: upstream, stats: stats!, gamma: gamma!, ...(y ? { y } : {}) }, attrs) as tf.Tensor[];
        // The moving statistics are not trained: they have no gradient (the tape never asks for one).
        return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
      },
    });
    // The statistics output has no dy of its own (its use is the gradient's, saved): no zeros made for it.
    withoutUnusedDys(forward);
  }
}

/**
 * Training-mode batch norm over the last axis of x (any rank), with gamma and beta, updating the moving statistics;
 * differentiable in x, gamma and beta; rectified, relu of it (the ReLU that follows, in the same programs). Null when the fused kernels cannot run here (the caller uses tfjs ops).
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, settings: BatchNormSettings, rectified = false): tf.Tensor | null {
  const backend = fusedBackend();
  if (!backend || x.dtype !== 'float32') return null;
  const channels = x.shape[x.rank - 1]!;
  const [y, stats] = tf.engine().runKernel(
    rectified ? BATCH_NORM_RELU_TRAINING : BATCH_NORM_TRAINING,
    { x, gamma, beta, movingMean: settings.movingMean.read(), movingVariance: settings.movingVariance.read() },
    { epsilon: settings.epsilon, decay: 1 - settings.momentum },
  ) as [tf.Tensor, tf.Tensor];
  // The new moving statistics (rows 2 and 3 of stats) into the variables' own buffers where nothing else can see them
  // change, else into new tensors that they take.
  const moving = [settings.movingMean, settings.movingVariance];
  writeTargets(
    backend,
    moving.map((m) => ({ tensor: m.read(), take: (value) => m.write(value) })),
    (dst) => moving.map((_, i) => ({ src: stats, srcOffset: (2 + i) * channels, dst: dst(i), dstOffset: 0, count: channels })),
  );
  stats.dispose();
  return y;
}
