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
  tensorMap: { get(dataId: object): TensorData | undefined };
  read(dataId: object): Promise<unknown>;
  /** One tensor fewer of this data; the buffer goes back to the pool at none (after the commands that use it). */
  disposeData(dataId: object): boolean;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  commandEncoder: GPUCommandEncoder;
  commandQueueOwnedIds: WeakSet<object>;
  /** tfjs-webgpu's pool: free buffers by `${bytes}_${usage}`, each list handed out from its end. */
  bufferManager: { freeBuffers: Map<string, GPUBuffer[]>; acquireBuffer(size: number, usage: number): GPUBuffer };
  queue: GPUQueue;
}

export type ProgramUniform = { type: 'int32' | 'float32' | 'uint32'; data: number[] };

/** What tfjs-webgpu keeps of a tensor's data (its TensorData), and what reads in flight of it were begun here. */
interface TensorData {
  dtype: tf.DataType;
  resource: GPUBuffer | GPUTexture | null;
  /** Tensors of this data (a clone or a reshape shares it). */
  refCount: number;
  /** The values on the CPU: what an upload came from, or what a read left as a cache. */
  values?: unknown;
  /** Reads begun and not yet finished (counted by trackReads). */
  tabclrReads?: number;
}

const starters: (() => void)[] = [];
let started = false;

/** Runs fn once, the first time the fused kernels run on a WebGPU backend (to wrap that backend's own kernels). */
export function whenFusedKernelsStart(fn: () => void): void {
  if (started) fn();
  else starters.push(fn);
}

/** The WebGPU backend when the fused kernels should run: the backend is webgpu and the flag is on; else null. */
export function fusedBackend(): WebGPUBackendInternals | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const backend = tf.backend() as unknown as WebGPUBackendInternals;
  if (!hooked.has(backend)) {
    hooked.add(backend);
    trackReads(backend);
    uploadThroughQueue(backend);
  }
  if (!tf.env().getBool(FUSED_KERNELS_FLAG)) return null;
  if (!started) {
    started = true;
    for (const fn of starters.splice(0)) fn();
  }
  return backend;
}

/** Backends whose read and upload this file has wrapped (once each, over their own methods). */
const hooked = new WeakSet<object>();

/**
 * Counts each tensor's reads in flight (TensorData.tabclrReads), for writableInPlace: tfjs's read copies the buffer when
 * it is called and, once the copy has come back, keeps the values on the CPU as a cache, which a write in place between
 * the two would leave stale. A read also holds a reference to the data until it is done, so that the tensor may be
 * disposed meanwhile (a variable given new values by the optimiser while an export reads it): tfjs-webgpu 4.22 throws
 * from the read's end ("Cannot read properties of undefined") when its data went first.
 */
function trackReads(backend: WebGPUBackendInternals): void {
  const own = backend.read;
  backend.read = async function (this: WebGPUBackendInternals, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (!data) return own.call(this, dataId);
    data.tabclrReads = (data.tabclrReads ?? 0) + 1;
    data.refCount += 1;
    try {
      return await own.call(this, dataId);
    } finally {
      data.tabclrReads -= 1;
      this.disposeData(dataId);
    }
  };
}

/**
 * Uploads a tensor's values (a batch of images, the augmentation's parameters, a restored checkpoint) with
 * queue.writeBuffer into a buffer of tfjs's pool, where tfjs-webgpu 4.22 makes a mapped staging buffer for each
 * upload (a new GPU buffer every time, about 50 µs in Dawn, destroyed after the next submission) and records a copy
 * from it, which ends the compute pass. The queue writes the values before any command submitted after the call; a
 * buffer in the pool is named by no command still to be submitted (tfjs returns a buffer a recorded command uses only
 * at the submission), so nothing recorded before sees the values and everything after does. Other dtypes (complex,
 * string) and empty tensors go through tfjs's upload.
 */
function uploadThroughQueue(backend: WebGPUBackendInternals): void {
  const own = backend.uploadToGPU;
  backend.uploadToGPU = function (this: WebGPUBackendInternals, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const values = data?.values as ArrayLike<number> | null | undefined;
    if (!data || data.resource != null || values == null || !['float32', 'int32', 'bool'].includes(data.dtype) || values.length === 0) {
      own.call(this, dataId);
      return;
    }
    const typed = data.dtype === 'float32' ? (values instanceof Float32Array ? values : Float32Array.from(values)) : values instanceof Int32Array ? values : Int32Array.from(values);
    const buffer = this.bufferManager.acquireBuffer(typed.byteLength, TENSOR_BUFFER_USAGE());
    this.queue.writeBuffer(buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
    data.values = null;
    data.resource = buffer;
  };
}

/**
 * Whether a float32 tensor's buffer may be written in place, so that it keeps its buffer (and the bind groups that name
 * it) instead of taking a new tensor's: no other tensor shares its data (refCount 1: a clone or a reshape taken of it
 * keeps its values), no values of it are on the CPU (an upload's, or a read's cache, which would go stale) and no read of
 * it is in flight (which would leave such a cache). Commands recorded before the write that read it run before it.
 */
export function writableInPlace(backend: WebGPUBackendInternals, t: { dataId: object; size: number; dtype: string }): boolean {
  const data = backend.tensorMap.get(t.dataId);
  return (
    data !== undefined &&
    t.dtype === 'float32' &&
    data.refCount === 1 &&
    data.values == null &&
    !data.tabclrReads &&
    data.resource instanceof GPUBuffer &&
    data.resource.size === 4 * t.size
  );
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
export function uninitialised(backend: WebGPUBackendInternals, shape: number[], preferred?: PreferredBuffers): tf.Tensor {
  return wrap(uninitialisedInfo(backend, shape, preferred));
}

export function uninitialisedInfo(backend: WebGPUBackendInternals, shape: number[], preferred?: PreferredBuffers): tf.TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  assertBufferFits(backend, size, () => `a [${shape}] buffer`);
  const info = backend.makeTensorInfo(shape, 'float32');
  placeOnGPU(backend, info, 4 * size, preferred);
  return info;
}

/**
 * The buffers a recurring tensor (one dispatch's output, one parameter) was given in recent steps, newest first. tfjs's
 * pool hands out the buffer of a size freed last, so a tensor made at the same point of every step gets a different
 * buffer from step to step as the order of the frees shifts, and every bind group that names it has to be made again
 * (the costliest call of a dispatch that has to make one: about 40 µs in Dawn). Asking for a buffer it had before,
 * when that one is free, keeps a step's buffers, and so its bind groups, the same from one step to the next.
 */
export class PreferredBuffers {
  private readonly recent: GPUBuffer[] = [];
  constructor(private readonly keep = 4) {}

  /** The newest first. */
  get buffers(): readonly GPUBuffer[] {
    return this.recent;
  }

  /** Remembers `buffer` as the newest. */
  took(buffer: GPUBuffer): void {
    const at = this.recent.indexOf(buffer);
    if (at === 0) return;
    if (at > 0) this.recent.splice(at, 1);
    this.recent.unshift(buffer);
    if (this.recent.length > this.keep) this.recent.pop();
  }
}

/** What placeOnGPU reads of a backend (the lean path's view of it has the same fields). */
interface PlacingBackend {
  bufferManager: { freeBuffers: Map<string, GPUBuffer[]> };
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): { resource: GPUBuffer | GPUTexture | null } | undefined };
}

/** tfjs-webgpu's usage for a tensor's buffer made without values (its uploadToGPU). */
const TENSOR_BUFFER_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Gives a tensor made without values (makeTensorInfo) its buffer, through tfjs's uploadToGPU and pool, and the one of
 * `preferred` that is free if any: it is moved to the end of its free list, where the pool takes from. Only the order of
 * the free list changes; what the pool counts and keeps is tfjs's own.
 */
export function placeOnGPU(backend: PlacingBackend, info: tf.TensorInfo, bytes: number, preferred?: PreferredBuffers): void {
  if (!preferred) {
    backend.uploadToGPU(info.dataId);
    return;
  }
  if (preferred.buffers.length > 0) {
    const free = backend.bufferManager.freeBuffers.get(`${bytes}_${TENSOR_BUFFER_USAGE()}`);
    if (free && free.length > 1) {
      const last = free.length - 1;
      for (const buffer of preferred.buffers) {
        const at = free.lastIndexOf(buffer);
        if (at < 0) continue;
        free[at] = free[last]!;
        free[last] = buffer;
        break;
      }
    }
  }
  backend.uploadToGPU(info.dataId);
  const resource = backend.tensorMap.get(info.dataId)!.resource;
  if (resource instanceof GPUBuffer) preferred.took(resource);
}

function bufferOf(backend: WebGPUBackendInternals, t: { dataId: object }): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId)!.resource;
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

/** A tensor to give new values: its own buffer is written where writableInPlace allows, else a new tensor that `take` gets. */
export interface WriteTarget {
  tensor: tf.Tensor;
  take(value: tf.Tensor): void;
  /** Buffers a new tensor for it would rather have (it alternates between two). */
  preferred?: PreferredBuffers;
}

/**
 * Copies new values into `targets` by `regions` (given where target i's values go: its own tensor or the new one), all
 * in one run of copies; the new tensors are handed to their targets and the function's own references freed.
 */
export function writeTargets(backend: WebGPUBackendInternals, targets: WriteTarget[], regions: (dst: (i: number) => tf.Tensor) => CopyRegion[]): void {
  const fresh = targets.map((t) => (writableInPlace(backend, t.tensor) ? null : uninitialised(backend, t.tensor.shape, t.preferred)));
  copyRegions(backend, regions((i) => fresh[i] ?? targets[i]!.tensor));
  targets.forEach((t, i) => fresh[i] && t.take(fresh[i]!));
  tf.dispose(fresh.filter((t): t is tf.Tensor => t !== null));
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
