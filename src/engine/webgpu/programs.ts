// What the engine's fused WebGPU kernels share besides how a kernel is written (kernelBuilder.ts): the switch that
// turns them on, the tfjs WebGPU backend's internals they run through, buffer-to-buffer copies recorded in its
// command encoder, tensors whose buffers copies fill, and the check of a buffer against the device's limits.
//
// Only for tfjs-backend-webgpu 4.22 (pinned in package.json): it reaches into the backend's command encoder and
// tensor map, which are not public API.
import * as tf from '@tensorflow/tfjs';
import { assertWithinLimit, bufferLimitBytes } from './limits';

/** The fused kernels are on by default wherever the WebGPU backend runs; tests and benchmarks turn them off to compare. */
export const FUSED_KERNELS_FLAG = 'TABCLR_FUSED_KERNELS';
if (!(FUSED_KERNELS_FLAG in (tf.env() as unknown as { flagRegistry: Record<string, unknown> }).flagRegistry)) {
  tf.env().registerFlag(FUSED_KERNELS_FLAG, () => true);
}

/** The part of tfjs-backend-webgpu's WebGPUBackend these programs use. */
export interface WebGPUBackendInternals {
  device: GPUDevice;
  /** `program` is one of kernelBuilder.ts's (or tfjs's own): the fields tfjs-webgpu reads of a program. */
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: ProgramUniform[], output?: tf.TensorInfo): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Int32Array): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): { resource: GPUBuffer | GPUTexture | null } };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  commandEncoder: GPUCommandEncoder;
  commandQueueOwnedIds: WeakSet<object>;
}

export type ProgramUniform = { type: 'int32' | 'float32' | 'uint32'; data: number[] };

const starters: (() => void)[] = [];
let started = false;

/** Runs fn once, the first time the fused kernels run on a WebGPU backend (to wrap that backend's own kernels). */
export function whenFusedKernelsStart(fn: () => void): void {
  if (started) fn();
  else starters.push(fn);
}

/** The WebGPU backend when the fused kernels should run: the backend is webgpu and the flag is on; else null. */
export function fusedBackend(): WebGPUBackendInternals | null {
  if (tf.getBackend() !== 'webgpu' || !tf.env().getBool(FUSED_KERNELS_FLAG)) return null;
  if (!started) {
    started = true;
    for (const fn of starters.splice(0)) fn();
  }
  return tf.backend() as unknown as WebGPUBackendInternals;
}

/** A tensor wrapping a backend result; the current tidy scope owns it. */
export function wrap(info: tf.TensorInfo): tf.Tensor {
  return (tf.engine() as unknown as { makeTensorFromTensorInfo(i: tf.TensorInfo): tf.Tensor }).makeTensorFromTensorInfo(info);
}

/**
 * Throws, before the buffer is made, when `floats` float32 values are more than one buffer of this device holds: past
 * a limit WebGPU raises a validation error instead, which drops the whole command buffer (limits.ts).
 */
export function assertBufferFits(backend: WebGPUBackendInternals, floats: number, name: () => string): void {
  const limit = deviceLimitBytes(backend.device);
  // The name is built only for the error: this check runs before every dispatch.
  if (4 * floats > limit) assertWithinLimit([{ name: name(), bytes: 4 * floats }], limit);
}

const limitsByDevice = new WeakMap<GPUDevice, number>();

/** bufferLimitBytes of a device, read once: a device's limits never change, and reading them crosses into Dawn. */
function deviceLimitBytes(device: GPUDevice): number {
  let limit = limitsByDevice.get(device);
  if (limit === undefined) {
    limit = bufferLimitBytes(device.limits);
    limitsByDevice.set(device, limit);
  }
  return limit;
}

/** A float32 tensor on the GPU whose contents are whatever its pooled buffer held: to be written entirely by copies. */
export function uninitialised(backend: WebGPUBackendInternals, shape: number[]): tf.Tensor {
  return wrap(uninitialisedInfo(backend, shape));
}

export function uninitialisedInfo(backend: WebGPUBackendInternals, shape: number[]): tf.TensorInfo {
  assertBufferFits(backend, shape.reduce((a, b) => a * b, 1), () => `a [${shape}] buffer`);
  const info = backend.makeTensorInfo(shape, 'float32');
  backend.uploadToGPU(info.dataId);
  return info;
}

function bufferOf(backend: WebGPUBackendInternals, t: { dataId: object }): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId).resource;
  if (!(resource instanceof GPUBuffer)) throw new Error('fused kernels need tensors in GPU buffers, not textures');
  return resource;
}

/** One region to copy: `count` floats from src[srcOffset…] to dst[dstOffset…]. */
export interface CopyRegion {
  src: { dataId: object };
  srcOffset: number;
  dst: { dataId: object };
  dstOffset: number;
  count: number;
}

/**
 * Records buffer-to-buffer copies in the backend's command encoder, in order with its programs (copies are commands,
 * not dispatches: no pipeline, no bind group). Both tensors stay alive until the copy has been submitted, as the
 * backend does for its own copies.
 */
export function copyRegions(backend: WebGPUBackendInternals, regions: CopyRegion[]): void {
  if (regions.length === 0) return;
  const buffers = regions.map((r) => [bufferOf(backend, r.src), bufferOf(backend, r.dst)] as const);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  regions.forEach((r, i) => {
    if (r.count === 0) return;
    const [src, dst] = buffers[i]!;
    backend.commandEncoder.copyBufferToBuffer(src, r.srcOffset * 4, dst, r.dstOffset * 4, r.count * 4);
    backend.commandQueueOwnedIds.add(r.src.dataId);
    backend.commandQueueOwnedIds.add(r.dst.dataId);
  });
}

/** Rows of a [rows × width] float tensor as separate [width] tensors (copies, no dispatch). */
export function splitRows(backend: WebGPUBackendInternals, packed: tf.Tensor, width: number, rows: number[]): tf.Tensor1D[] {
  const out = rows.map(() => uninitialised(backend, [width]) as tf.Tensor1D);
  copyRegions(
    backend,
    rows.map((row, i) => ({ src: packed, srcOffset: row * width, dst: out[i]!, dstOffset: 0, count: width })),
  );
  return out;
}

/**
 * Scalars as one [n] tensor, to read back at once: buffer copies on the fused kernels' WebGPU (commands, no
 * dispatch, where tf.stack is a reshape per scalar and a concatenation program), tf.stack elsewhere.
 */
export function stackScalars(scalars: tf.Tensor[]): tf.Tensor1D {
  const backend = fusedBackend();
  if (!backend || scalars.some((s) => s.size !== 1 || s.dtype !== 'float32')) return tf.stack(scalars) as tf.Tensor1D;
  const out = uninitialised(backend, [scalars.length]) as tf.Tensor1D;
  copyRegions(
    backend,
    scalars.map((s, i) => ({ src: s, srcOffset: 0, dst: out, dstOffset: i, count: 1 })),
  );
  return out;
}
