// What a WebGPU device lets one buffer hold (and one dispatch spread along one dimension), and the check every fused program's buffers go through. A buffer past
// a limit is not an exception in WebGPU: it is a validation error, which drops the whole command buffer it was in,
// so the step would go on reading whatever its buffers held before. Hence every buffer is checked here first and
// refused with a JavaScript error that says what was too large.
//
// No tfjs here: the page's batch pre-check (../memory.ts) reads the same arithmetic.

/** The two limits that bound one buffer the fused programs bind as storage. */
export interface BufferLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * WebGPU's guaranteed maxComputeWorkgroupsPerDimension. tfjs-webgpu spreads a dispatch with more workgroups than
 * this over x and y (runWebGPUProgram's reshapeDispatch), and the shader then takes each invocation's index from its
 * workgroup id instead of globalId.x: another index path, and invocations past the work to return early.
 */
export const MAX_WORKGROUPS_PER_DIMENSION = 65_535;

/** What a device gets when requestDevice() asks for nothing (the WebGPU specification's defaults). */
export const DEFAULT_BUFFER_LIMITS: BufferLimits = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };

/** Bytes one storage buffer may hold: it must be bindable whole and exist at all. */
export function bufferLimitBytes(limits: BufferLimits): number {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

/** A buffer a program would make, named for the error message. */
export interface PlannedBuffer {
  name: string;
  bytes: number;
}

export class BufferLimitError extends Error {
  constructor(
    readonly buffer: PlannedBuffer,
    readonly limitBytes: number,
  ) {
    super(`${buffer.name} needs ${buffer.bytes} bytes in one GPU buffer, but this device allows ${limitBytes}`);
    this.name = 'BufferLimitError';
  }
}

/** Throws a BufferLimitError for the first buffer past the limit; returns the largest size otherwise. */
export function assertWithinLimit(buffers: PlannedBuffer[], limitBytes: number): number {
  let largest = 0;
  for (const b of buffers) {
    if (b.bytes > limitBytes) throw new BufferLimitError(b, limitBytes);
    largest = Math.max(largest, b.bytes);
  }
  return largest;
}

/**
 * How parallel one dispatch is: how many invocations it runs, and the most iterations of a dependent loop any one of
 * them runs. A dispatch takes at least as long as its longest invocation, so a reduction whose second stage loops over
 * thousands of partial sums in a few invocations leaves a GPU idle however fast the rest is.
 */
export interface ProgramParallelism {
  /** The program's shader key, as the dispatch counters name it ('tabclr_optim_partials'). */
  program: string;
  invocations: number;
  serialLoop: number;
}
