// The collapse statistic (normalize.ts normalisedStd: the std over the batch of the L2-normalised rows, averaged over
// dimensions) on WebGPU in three programs instead of the dozen small tfjs ops of l2Normalize, moments, sqrt and mean.
// The same maths, to float32 rounding:
//
//   norms    r_i = √(Σ_k x_ik² + 1e-12)                                     M invocations, each over D
//   columns  σ_k = √(mean_i (x_ik/r_i − mean_i x_ik/r_i)²)                  D invocations, each over 2M
//   mean     Σ_k σ_k / D                                                     1 invocation over D
//
// Up to MAX_ROWS rows: past them the columns program would loop longer than a GPU wants of an invocation (4,096, the
// engine benchmark's parallelism check) with too few invocations to hide it, and tfjs's ops take over.
//
// A statistic the step reads, never differentiated: the kernel has no gradient, and the tape never asks for one
// because nothing the loss depends on reads it.
import * as tf from '@tensorflow/tfjs';
import { UniformList, disposeInfo, guard, kernelProgram, runKernel, type KernelArgs, type ProgramParallelism } from './kernelBuilder';
import { fusedBackend } from './programs';

export const NORMALISED_STD = 'TabclrNormalisedStd';

/** The most rows the fused programs take. */
export const MAX_ROWS = 2048;

const SIZES = new UniformList(['rows', 'dims'] as const);

const normsProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'nstd_norms',
    inputs: [{ name: 'X' }],
    outputSize: rows,
    uniforms: SIZES.declaration,
    invocations: rows,
    serialLoop: dims,
    body: () => `${guard('index', 'uniforms.rows')}
  var q = 0.0;
  for (var k = 0; k < uniforms.dims; k++) {
    let v = X[index * uniforms.dims + k];
    q += v * v;
  }
  result[index] = sqrt(q + 1e-12);`,
  });

const columnsProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'nstd_columns',
    inputs: [{ name: 'X' }, { name: 'R' }],
    outputSize: dims,
    uniforms: SIZES.declaration,
    invocations: dims,
    serialLoop: 2 * rows,
    body: () => `${guard('index', 'uniforms.dims')}
  var sum = 0.0;
  for (var i = 0; i < uniforms.rows; i++) { sum += X[i * uniforms.dims + index] / R[i]; }
  let mean = sum / f32(uniforms.rows);
  var m2 = 0.0;
  for (var i = 0; i < uniforms.rows; i++) {
    let d = X[i * uniforms.dims + index] / R[i] - mean;
    m2 += d * d;
  }
  result[index] = sqrt(m2 / f32(uniforms.rows));`,
  });

const meanProgram = (dims: number) =>
  kernelProgram({
    name: 'nstd_mean',
    inputs: [{ name: 'C' }],
    outputSize: 1,
    uniforms: SIZES.declaration,
    invocations: 1,
    serialLoop: dims,
    body: () => `${guard('index', '1')}
  var sum = 0.0;
  for (var k = 0; k < uniforms.dims; k++) { sum += C[k]; }
  result[0] = sum / f32(uniforms.dims);`,
  });

/** Invocations and the longest serial loop of each dispatch of the statistic for M rows of D. */
export function normalisedStdParallelism(rows: number, dims: number): ProgramParallelism[] {
  return [normsProgram(rows, dims), columnsProgram(rows, dims), meanProgram(dims)].map((p) => p.parallelism);
}

function kernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const x = inputs['x']!;
  const [rows, dims] = x.shape as [number, number];
  const u = SIZES.values({ rows, dims });
  const norms = runKernel(backend, normsProgram(rows, dims), [x], u);
  const columns = runKernel(backend, columnsProgram(rows, dims), [x, norms], u);
  disposeInfo(backend, norms);
  const mean = runKernel(backend, meanProgram(dims), [columns], u);
  disposeInfo(backend, columns);
  return { dataId: mean.dataId, shape: [], dtype: 'float32' };
}

if (!tf.getKernel(NORMALISED_STD, 'webgpu')) {
  tf.registerKernel({ kernelName: NORMALISED_STD, backendName: 'webgpu', kernelFunc: kernel as unknown as tf.KernelFunc });
}

/** normalisedStd of a float32 [M, D] on the fused kernels; null where they cannot run or M > MAX_ROWS (the caller uses tfjs ops). */
export function fusedNormalisedStd(x: tf.Tensor2D): tf.Scalar | null {
  if (!fusedBackend() || x.dtype !== 'float32' || x.rank !== 2 || x.shape[0] < 1 || x.shape[0] > MAX_ROWS || x.shape[1] < 1) return null;
  return tf.engine().runKernel(NORMALISED_STD, { x }, {}) as tf.Scalar;
}
