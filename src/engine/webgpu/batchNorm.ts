// Batch normalisation in training mode on WebGPU as three programs forward and three backward, instead of the ~40
// small tfjs ops (moments, the normalisation, the moving averages, and their gradients through broadcasting
// reductions) it takes op by op. Forward: per-chunk means and squared deviations, their combination per channel
// (Chan et al.'s parallel variance) with the moving averages, and the normalisation. Backward: per-chunk Σdy and
// Σdy·x̂, their sums (the gradients of beta and gamma), and dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)).
// The same maths as tfjs-layers' BatchNormalization (biased batch variance, moving averages
// m ← m − (m − batch)·(1 − momentum), y = (x − mean)·γ/√(var + ε) + β), to float32 rounding.
import * as tf from '@tensorflow/tfjs';
import { flatProgram, copyRegions, fusedBackend, runProgramInfo, splitRows, uninitialisedInfo, type ProgramUniform, type WebGPUBackendInternals } from './programs';

/** Rows one invocation reduces: enough invocations for a GPU, few enough partial rows to add up. */
const ROWS_PER_CHUNK = 64;

const SIZES = 'rows : i32, channels : i32, rowsPerChunk : i32, chunks : i32,';

// Per (chunk, channel): the chunk's mean and Σ(x − chunk mean)², two passes over its rows.
const momentsPartials = (threads: number) =>
  flatProgram(
    'bn_moments_partials',
    ['X'],
    2 * threads,
    threads,
    SIZES,
    `
  if (index >= uniforms.chunks * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let start = (index / uniforms.channels) * uniforms.rowsPerChunk;
  let stop = min(start + uniforms.rowsPerChunk, uniforms.rows);
  var sum = 0.0;
  for (var r = start; r < stop; r++) { sum += X[r * uniforms.channels + c]; }
  let mean = sum / f32(stop - start);
  var m2 = 0.0;
  for (var r = start; r < stop; r++) {
    let d = X[r * uniforms.channels + c] - mean;
    m2 += d * d;
  }
  result[2 * index] = mean;
  result[2 * index + 1] = m2;`,
  );

// Per channel: [mean, variance, new moving mean, new moving variance], each row `channels` long.
const momentsTotals = (channels: number) =>
  flatProgram(
    'bn_moments_totals',
    ['P', 'MM', 'MV'],
    4 * channels,
    channels,
    `${SIZES} decay : f32,`,
    `
  if (index >= uniforms.channels) { return; }
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = 0; k < uniforms.chunks; k++) {
    let nb = f32(min(uniforms.rowsPerChunk, uniforms.rows - k * uniforms.rowsPerChunk));
    let at = 2 * (k * uniforms.channels + index);
    let delta = P[at] - mean;
    let total = n + nb;
    mean += delta * nb / total;
    m2 += P[at + 1] + delta * delta * n * nb / total;
    n = total;
  }
  let variance = m2 / f32(uniforms.rows);
  let mm = MM[index];
  let mv = MV[index];
  result[index] = mean;
  result[uniforms.channels + index] = variance;
  result[2 * uniforms.channels + index] = mm - (mm - mean) * uniforms.decay;
  result[3 * uniforms.channels + index] = mv - (mv - variance) * uniforms.decay;`,
  );

// tfjs's BatchNormProgram's formula, so that the two paths round alike.
const normalize = (size: number) =>
  flatProgram(
    'bn_normalize',
    ['X', 'S', 'Gamma', 'Beta'],
    size,
    size,
    `${SIZES} epsilon : f32,`,
    `
  if (index >= uniforms.rows * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let inv = Gamma[c] * inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  result[index] = dot(vec3<f32>(X[index], -S[c], Beta[c]), vec3<f32>(inv, inv, 1.0));`,
  );

// Per (chunk, channel): Σdy and Σdy·x̂.
const gradPartials = (threads: number) =>
  flatProgram(
    'bn_grad_partials',
    ['X', 'DY', 'S'],
    2 * threads,
    threads,
    `${SIZES} epsilon : f32,`,
    `
  if (index >= uniforms.chunks * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let start = (index / uniforms.channels) * uniforms.rowsPerChunk;
  let stop = min(start + uniforms.rowsPerChunk, uniforms.rows);
  let mean = S[c];
  let inv = inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var r = start; r < stop; r++) {
    let at = r * uniforms.channels + c;
    let dy = DY[at];
    sumDy += dy;
    sumDyXhat += dy * (X[at] - mean) * inv;
  }
  result[2 * index] = sumDy;
  result[2 * index + 1] = sumDyXhat;`,
  );

// Per channel: [Σdy (beta's gradient), Σdy·x̂ (gamma's)], each row `channels` long.
const gradTotals = (channels: number) =>
  flatProgram(
    'bn_grad_totals',
    ['P'],
    2 * channels,
    channels,
    SIZES,
    `
  if (index >= uniforms.channels) { return; }
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  for (var k = 0; k < uniforms.chunks; k++) {
    let at = 2 * (k * uniforms.channels + index);
    sumDy += P[at];
    sumDyXhat += P[at + 1];
  }
  result[index] = sumDy;
  result[uniforms.channels + index] = sumDyXhat;`,
  );

const gradInput = (size: number) =>
  flatProgram(
    'bn_grad_input',
    ['X', 'DY', 'S', 'Gamma', 'T'],
    size,
    size,
    `${SIZES} epsilon : f32,`,
    `
  if (index >= uniforms.rows * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let inv = inverseSqrt(S[uniforms.channels + c] + uniforms.epsilon);
  let xhat = (X[index] - S[c]) * inv;
  let m = f32(uniforms.rows);
  result[index] = Gamma[c] * inv / m * (m * DY[index] - T[c] - xhat * T[uniforms.channels + c]);`,
  );

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

interface Geometry {
  rows: number;
  channels: number;
  chunks: number;
  sizes: ProgramUniform[];
}

function geometry(x: tf.TensorInfo): Geometry {
  const channels = x.shape[x.shape.length - 1]!;
  const rows = x.shape.reduce((a, b) => a * b, 1) / channels;
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  return { rows, channels, chunks, sizes: [rows, channels, ROWS_PER_CHUNK, chunks].map((v) => ({ type: 'int32' as const, data: [v] })) };
}

const reshaped = (info: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: info.dataId, shape, dtype: info.dtype });

// Outputs: y (x's shape) and the statistics [mean | variance | new moving mean | new moving variance].
function forwardKernel({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo[] {
  const b = backend as WebGPUBackendInternals;
  const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<string, tf.TensorInfo>;
  const { epsilon, decay } = attrs as { epsilon: number; decay: number };
  const g = geometry(x!);
  const partials = runProgramInfo(b, momentsPartials(g.chunks * g.channels), [x!], g.sizes);
  const stats = runProgramInfo(b, momentsTotals(g.channels), [partials, movingMean!, movingVariance!], [...g.sizes, { type: 'float32', data: [decay] }]);
  (b as unknown as { disposeData(id: object): void }).disposeData(partials.dataId);
  const y = runProgramInfo(b, normalize(g.rows * g.channels), [x!, stats, gamma!, beta!], [...g.sizes, { type: 'float32', data: [epsilon] }]);
  return [reshaped(y, x!.shape), stats];
}

// Outputs: dx, dgamma, dbeta.
function gradKernel({ inputs, attrs, backend }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo[] {
  const b = backend as WebGPUBackendInternals;
  const { x, dy, stats, gamma } = inputs as Record<string, tf.TensorInfo>;
  const { epsilon } = attrs as { epsilon: number };
  const g = geometry(x!);
  const eps = { type: 'float32' as const, data: [epsilon] };
  const partials = runProgramInfo(b, gradPartials(g.chunks * g.channels), [x!, dy!, stats!], [...g.sizes, eps]);
  const totals = runProgramInfo(b, gradTotals(g.channels), [partials], g.sizes);
  const dx = runProgramInfo(b, gradInput(g.rows * g.channels), [x!, dy!, stats!, gamma!, totals], [...g.sizes, eps]);
  const dBeta = uninitialisedInfo(b, [g.channels]);
  const dGamma = uninitialisedInfo(b, [g.channels]);
  copyRegions(b, [
    { src: totals, srcOffset: 0, dst: dBeta, dstOffset: 0, count: g.channels },
    { src: totals, srcOffset: g.channels, dst: dGamma, dstOffset: 0, count: g.channels },
  ]);
  const dispose = (b as unknown as { disposeData(id: object): void }).disposeData.bind(b);
  dispose(partials.dataId);
  dispose(totals.dataId);
  return [reshaped(dx, x!.shape), reshaped(dGamma, gamma!.shape), reshaped(dBeta, gamma!.shape)];
}

if (!tf.getKernel(BATCH_NORM_TRAINING, 'webgpu')) {
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING, backendName: 'webgpu', kernelFunc: forwardKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: BATCH_NORM_TRAINING_GRAD, backendName: 'webgpu', kernelFunc: gradKernel as unknown as tf.KernelFunc });
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAINING,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma, stats] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const [dx, dGamma, dBeta] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { x, dy: (Array.isArray(dy) ? dy[0] : dy)!, stats, gamma }, attrs) as tf.Tensor[];
      // The moving statistics are not trained: they have no gradient (the tape never asks for one).
      return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
    },
  });
}

/**
 * Training-mode batch norm over the last axis of x (any rank), with gamma and beta, updating the moving statistics;
 * differentiable in x, gamma and beta. Null when the fused kernels cannot run here (the caller uses tfjs ops).
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, settings: BatchNormSettings): tf.Tensor | null {
  const backend = fusedBackend();
  if (!backend || x.dtype !== 'float32') return null;
  const channels = x.shape[x.rank - 1]!;
  const [y, stats] = tf.engine().runKernel(
    BATCH_NORM_TRAINING,
    { x, gamma, beta, movingMean: settings.movingMean.read(), movingVariance: settings.movingVariance.read() },
    { epsilon: settings.epsilon, decay: 1 - settings.momentum },
  ) as [tf.Tensor, tf.Tensor];
  const [movingMean, movingVariance] = splitRows(backend, stats, channels, [2, 3]);
  settings.movingMean.write(movingMean!);
  settings.movingVariance.write(movingVariance!);
  tf.dispose([stats, movingMean!, movingVariance!]);
  return y;
}
