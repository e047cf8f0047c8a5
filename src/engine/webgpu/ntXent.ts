// SimCLR's NT-Xent with its contrastive accuracy on WebGPU in four programs forward and two backward, instead of the
// ~60 small tfjs ops (l2Normalize, concat, the matrix of similarities, the self mask, logSumExp, the one-hot
// positives, argMax, their broadcasting gradients) it takes op by op: each of those is a dispatch, and recording a
// dispatch costs a step more than most of them compute at the batches a browser trains with.
//
// For the M = 2N projections z (view 1's rows first, so row i's positive is p(i) = (i + N) mod M) and temperature τ,
// exactly the maths of methods/simclr.ts's ntXentParts, which stays the fallback and the oracle:
//
//   forward   u_i = z_i / √(|z_i|² + 1e-12)                     unit    M × D invocations, each over D
//             s_ij = u_i·u_j / τ − [i = j]·1e9                   logits  M × M invocations, each over D
//             lse_i = log Σ_j exp(s_ij), argmax_j s_ij           rows    M invocations, each over M
//             loss = mean_i (lse_i − s_i,p(i)), accuracy = mean_i [argmax = p(i)]     mean    1 invocation over M
//   backward  P_ij = exp(s_ij − lse_i), and since s is symmetric off the diagonal and p(p(i)) = i,
//             ∂loss/∂u_i = Σ_{j≠i} (P_ij + P_ji − 2·[j = p(i)]) · u_j / (τ·M)           M × D invocations, each over M
//             ∂loss/∂z_i = (∂u_i − u_i·(u_i·∂u_i)) / √(|z_i|² + 1e-12)                  M × D invocations, each over D
//
// The accuracy has no gradient (an argmax). Registered as a kernel with its gradient, so the tape records one node.
// Up to MAX_ROWS rows (batches of 1,024): past them the rows and mean programs would loop longer than a GPU wants of
// an invocation (4,096, the engine benchmark's parallelism check) with too few invocations to hide it, and tfjs's
// workgroup-parallel reductions take over, as they do off WebGPU.
import * as tf from '@tensorflow/tfjs';
import { UniformList, disposeInfo, guard, kernelProgram, runKernel, type KernelArgs, type ProgramParallelism } from './kernelBuilder';
import { copyRegions, fusedBackend, uninitialisedInfo } from './programs';
import { withoutUnusedDys } from '../tape';

export const NT_XENT = 'TabclrNtXent';
export const NT_XENT_GRAD = 'TabclrNtXentGrad';

/** What ntXentParts subtracts from the self-similarities (methods/simclr.ts SELF_MASK); the same constant. */
const SELF_MASK = '1e9';
/** l2Normalize's epsilon (normalize.ts). */
const NORM_EPSILON = '1e-12';

/** The most rows (2N) the fused programs take. */
export const MAX_ROWS = 2048;

const SIZES = new UniformList(['rows', 'dims', 'half'] as const);
const declaration = `${SIZES.declaration} temperature : f32,`;

/** Row i's positive: its other view. */
const positive = (i: string) => `((${i} + uniforms.half) % uniforms.rows)`;

// Per (row, dim): the unit vector; the row's invocation at dim 0 also writes the norm after the M × D unit rows.
const unitProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'ntxent_unit',
    inputs: [{ name: 'Z' }],
    outputSize: rows * dims + rows,
    uniforms: declaration,
    invocations: rows * dims,
    serialLoop: dims,
    body: () => `${guard('index', 'uniforms.rows * uniforms.dims')}
  let i = index / uniforms.dims;
  var q = 0.0;
  for (var k = 0; k < uniforms.dims; k++) {
    let v = Z[i * uniforms.dims + k];
    q += v * v;
  }
  let r = sqrt(q + ${NORM_EPSILON});
  result[index] = Z[index] / r;
  if (index % uniforms.dims == 0) { result[uniforms.rows * uniforms.dims + i] = r; }`,
  });

// Per (i, j): the masked logit.
const logitsProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'ntxent_logits',
    inputs: [{ name: 'U' }],
    outputSize: rows * rows,
    uniforms: declaration,
    invocations: rows * rows,
    serialLoop: dims,
    body: () => `${guard('index', 'uniforms.rows * uniforms.rows')}
  let i = index / uniforms.rows;
  let j = index % uniforms.rows;
  var s = 0.0;
  for (var k = 0; k < uniforms.dims; k++) { s += U[i * uniforms.dims + k] * U[j * uniforms.dims + k]; }
  result[index] = s / uniforms.temperature - select(0.0, ${SELF_MASK}, i == j);`,
  });

// Per row: [lse_i | lse_i − s_i,p(i) | 1 when the first largest logit is the positive's], each M long.
const rowsProgram = (rows: number) =>
  kernelProgram({
    name: 'ntxent_rows',
    inputs: [{ name: 'S' }],
    outputSize: 3 * rows,
    uniforms: declaration,
    invocations: rows,
    serialLoop: 2 * rows,
    body: () => `${guard('index', 'uniforms.rows')}
  let base = index * uniforms.rows;
  var best = S[base];
  var bestAt = 0;
  for (var j = 1; j < uniforms.rows; j++) {
    let s = S[base + j];
    if (s > best) {
      best = s;
      bestAt = j;
    }
  }
  var sum = 0.0;
  for (var j = 0; j < uniforms.rows; j++) { sum += exp(S[base + j] - best); }
  let lse = best + log(sum);
  let p = ${positive('index')};
  result[index] = lse;
  result[uniforms.rows + index] = lse - S[base + p];
  result[2 * uniforms.rows + index] = select(0.0, 1.0, bestAt == p);`,
  });

// [loss, accuracy]: the rows' means.
const meanProgram = (rows: number) =>
  kernelProgram({
    name: 'ntxent_mean',
    inputs: [{ name: 'R' }],
    outputSize: 2,
    uniforms: declaration,
    invocations: 1,
    serialLoop: rows,
    body: () => `${guard('index', '1')}
  var loss = 0.0;
  var correct = 0.0;
  for (var i = 0; i < uniforms.rows; i++) {
    loss += R[uniforms.rows + i];
    correct += R[2 * uniforms.rows + i];
  }
  result[0] = loss / f32(uniforms.rows);
  result[1] = correct / f32(uniforms.rows);`,
  });

// Per (row, dim): ∂loss/∂u, scaled by the upstream gradient DY[0].
const unitGradProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'ntxent_grad_unit',
    inputs: [{ name: 'S' }, { name: 'R' }, { name: 'U' }, { name: 'DY' }],
    outputSize: rows * dims,
    uniforms: declaration,
    invocations: rows * dims,
    serialLoop: rows,
    body: () => `${guard('index', 'uniforms.rows * uniforms.dims')}
  let i = index / uniforms.dims;
  let k = index % uniforms.dims;
  let p = ${positive('i')};
  let lseI = R[i];
  var sum = 0.0;
  for (var j = 0; j < uniforms.rows; j++) {
    if (j == i) { continue; }
    let s = S[i * uniforms.rows + j];
    let c = exp(s - lseI) + exp(s - R[j]) - select(0.0, 2.0, j == p);
    sum += c * U[j * uniforms.dims + k];
  }
  result[index] = sum * DY[0] / (uniforms.temperature * f32(uniforms.rows));`,
  });

// Per (row, dim): ∂loss/∂z through the normalisation.
const inputGradProgram = (rows: number, dims: number) =>
  kernelProgram({
    name: 'ntxent_grad_input',
    inputs: [{ name: 'U' }, { name: 'DU' }],
    outputSize: rows * dims,
    uniforms: declaration,
    invocations: rows * dims,
    serialLoop: dims,
    body: () => `${guard('index', 'uniforms.rows * uniforms.dims')}
  let i = index / uniforms.dims;
  var dot = 0.0;
  for (var k = 0; k < uniforms.dims; k++) { dot += U[i * uniforms.dims + k] * DU[i * uniforms.dims + k]; }
  let r = U[uniforms.rows * uniforms.dims + i];
  result[index] = (DU[index] - U[index] * dot) / r;`,
  });

/** Invocations and the longest serial loop of each dispatch of one NT-Xent, forward then backward, for M rows of D. */
export function ntXentParallelism(rows: number, dims: number): ProgramParallelism[] {
  return [unitProgram(rows, dims), logitsProgram(rows, dims), rowsProgram(rows), meanProgram(rows), unitGradProgram(rows, dims), inputGradProgram(rows, dims)].map(
    (p) => p.parallelism,
  );
}

const uniformsFor = (rows: number, dims: number, temperature: number) => [
  ...SIZES.values({ rows, dims, half: rows / 2 }),
  { type: 'float32' as const, data: [temperature] },
];

const scalar = (info: tf.TensorInfo): tf.TensorInfo => ({ dataId: info.dataId, shape: [], dtype: 'float32' });

// Outputs: loss [], accuracy [], and what the gradient reads: the logits [M, M], the rows' [lse | loss | hit] and the
// unit vectors with their norms [M·D + M].
function forwardKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const z = inputs['z']!;
  const [rows, dims] = z.shape as [number, number];
  const temperature = (attrs as { temperature: number }).temperature;
  const u = uniformsFor(rows, dims, temperature);
  const unit = runKernel(backend, unitProgram(rows, dims), [z], u);
  const logits = runKernel(backend, logitsProgram(rows, dims), [unit], u);
  const rowStats = runKernel(backend, rowsProgram(rows), [logits], u);
  const means = runKernel(backend, meanProgram(rows), [rowStats], u);
  const loss = uninitialisedInfo(backend, [1]);
  const accuracy = uninitialisedInfo(backend, [1]);
  copyRegions(backend, [
    { src: means, srcOffset: 0, dst: loss, dstOffset: 0, count: 1 },
    { src: means, srcOffset: 1, dst: accuracy, dstOffset: 0, count: 1 },
  ]);
  disposeInfo(backend, means);
  return [scalar(loss), scalar(accuracy), { ...logits, shape: [rows, rows] }, rowStats, unit];
}

// Outputs: ∂loss/∂z [M, D].
function gradKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { dy, logits, rowStats, unit } = inputs as Record<string, tf.TensorInfo>;
  const rows = logits!.shape[0]!;
  const dims = (unit!.shape[0]! - rows) / rows;
  const u = uniformsFor(rows, dims, (attrs as { temperature: number }).temperature);
  const du = runKernel(backend, unitGradProgram(rows, dims), [logits!, rowStats!, unit!, dy!], u);
  const dz = runKernel(backend, inputGradProgram(rows, dims), [unit!, du], u);
  disposeInfo(backend, du);
  return { dataId: dz.dataId, shape: [rows, dims], dtype: 'float32' };
}

if (!tf.getKernel(NT_XENT, 'webgpu')) {
  tf.registerKernel({ kernelName: NT_XENT, backendName: 'webgpu', kernelFunc: forwardKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: NT_XENT_GRAD, backendName: 'webgpu', kernelFunc: gradKernel as unknown as tf.KernelFunc });
  tf.registerGradient({
    kernelName: NT_XENT,
    outputsToSave: [false, false, true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const dy = (Array.isArray(dys) ? dys[0] : dys)!;
      const [logits, rowStats, unit] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      return { z: () => tf.engine().runKernel(NT_XENT_GRAD, { dy, logits, rowStats, unit }, attrs) as tf.Tensor };
    },
  });
  // Only the loss has a dy: the accuracy is a diagnostic, the rest is kept for the gradient.
  withoutUnusedDys(NT_XENT);
}

/**
 * NT-Xent and the contrastive accuracy of the M = 2N rows of z (view 1's first), differentiable in z; null where the
 * fused kernels cannot run (not WebGPU, the flag off, an odd or empty batch, more than MAX_ROWS rows, not float32), and
 * the caller uses tfjs ops.
 */
export function fusedNtXent(z: tf.Tensor2D, temperature: number): { loss: tf.Scalar; contrastiveAcc: tf.Scalar } | null {
  const [rows, dims] = z.shape;
  if (!fusedBackend() || z.dtype !== 'float32' || rows < 2 || rows % 2 !== 0 || rows > MAX_ROWS || dims < 1) return null;
  const [loss, contrastiveAcc, ...saved] = tf.engine().runKernel(NT_XENT, { z }, { temperature }) as tf.Tensor[];
  // The saved outputs are the tape's (it keeps its own clones); ours go now.
  tf.dispose(saved);
  return { loss: loss as tf.Scalar, contrastiveAcc: contrastiveAcc as tf.Scalar };
}
