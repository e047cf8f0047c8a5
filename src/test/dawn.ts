// Tests of the engine on WebGPU in Node: Dawn (the npm package `webgpu`) on the machine's Vulkan adapter, SwiftShader
// from Debian's chromium when it has no GPU (scripts/lib/dawn.ts). A file that calls useDawn() runs its tests on the
// tfjs WebGPU backend; vitest runs each file in a process of its own, so the others stay on the CPU backend.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll } from 'vitest';
import { startDawn, type Dawn } from '../../scripts/lib/dawn';
import { workgroupsFor } from '../engine/webgpu/kernelBuilder';
import { LEAN_DISPATCH_FLAG } from '../engine/webgpu/leanDispatch';
import type { ProgramParallelism } from '../engine/webgpu/limits';

export function useDawn(): { readonly dawn: Dawn } {
  const holder: { dawn: Dawn | null } = { dawn: null };
  beforeAll(async () => {
    holder.dawn = await startDawn();
  }, 120_000);
  afterAll(async () => {
    await holder.dawn?.stop();
  });
  return {
    get dawn() {
      if (!holder.dawn) throw new Error('Dawn has not started');
      return holder.dawn;
    },
  };
}

/** Runs fn with the fused WebGPU kernels on or off (TABCLR_FUSED_KERNELS), restoring the flag after. */
export async function withFusedKernels<T>(on: boolean, fn: () => T | Promise<T>): Promise<T> {
  const before = tf.env().getBool('TABCLR_FUSED_KERNELS');
  tf.env().set('TABCLR_FUSED_KERNELS', on);
  try {
    return await fn();
  } finally {
    tf.env().set('TABCLR_FUSED_KERNELS', before);
  }
}

/** The largest |a − b| / max(1, |b|) over two arrays of the same length. */
export function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

/** Counts the GPU programs the WebGPU backend runs while fn runs, by program class. */
export async function countDispatches<T>(fn: () => T | Promise<T>): Promise<{ result: T; count: number; byProgram: Map<string, number> }> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { constructor: { name: string }; shaderKey: string }, ...rest: unknown[]) => unknown };
  const run = backend.runWebGPUProgram;
  const byProgram = new Map<string, number>();
  let count = 0;
  backend.runWebGPUProgram = (p, ...rest) => {
    count += 1;
    const name = p.shaderKey?.startsWith('tabclr_') ? p.shaderKey : p.constructor.name;
    byProgram.set(name, (byProgram.get(name) ?? 0) + 1);
    return run.call(backend, p, ...rest);
  };
  try {
    const result = await fn();
    return { result, count, byProgram };
  } finally {
    backend.runWebGPUProgram = run;
  }
}

/**
 * Runs fn with the lean dispatch path (leanDispatch.ts) on or off, restoring the flag after: it takes WebGPU's
 * guaranteed workgroup limit for the device's, so a test that lowers the device's limit runs without it.
 */
export async function withLeanDispatch<T>(on: boolean, fn: () => T | Promise<T>): Promise<T> {
  const before = tf.env().getBool(LEAN_DISPATCH_FLAG);
  tf.env().set(LEAN_DISPATCH_FLAG, on);
  try {
    return await fn();
  } finally {
    tf.env().set(LEAN_DISPATCH_FLAG, before);
  }
}

/** Runs fn with the device's maxComputeWorkgroupsPerDimension, as tfjs-webgpu reads it, at `limit`. */
export async function withWorkgroupLimit<T>(limit: number, fn: () => Promise<T>): Promise<T> {
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const own = Object.getOwnPropertyDescriptor(device, 'limits');
  const real = device.limits;
  Object.defineProperty(device, 'limits', { value: { ...limitsRecord(real), maxComputeWorkgroupsPerDimension: limit }, configurable: true });
  try {
    return await withLeanDispatch(false, fn);
  } finally {
    if (own) Object.defineProperty(device, 'limits', own);
    else delete (device as unknown as { limits?: unknown }).limits;
  }
}

function limitsRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k in limits) out[k] = (limits as unknown as Record<string, number>)[k]!;
  return out;
}

export interface Dispatched extends ProgramParallelism {
  dispatch: number[];
}

/** The engine's programs (kernelBuilder.ts) that run while fn runs, with their parallelism and the dispatch tfjs made of them. */
export async function recordDispatches<T>(fn: () => Promise<T>): Promise<{ result: T; programs: Dispatched[] }> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { parallelism?: ProgramParallelism; dispatch: number[] }, ...rest: unknown[]) => unknown };
  const run = backend.runWebGPUProgram;
  const programs: Dispatched[] = [];
  backend.runWebGPUProgram = (p, ...rest) => {
    const out = run.call(backend, p, ...rest);
    if (p.parallelism) programs.push({ ...p.parallelism, dispatch: [...p.dispatch] });
    return out;
  };
  try {
    return { result: await fn(), programs };
  } finally {
    backend.runWebGPUProgram = run;
  }
}

/**
 * Runs fn with each program built with the kernel builder dispatched under a device limit lowered to √(its
 * workgroups) when it has more than two (so tfjs-webgpu spreads it over x and y); returns which programs were spread.
 */
export async function withLimitPerProgram<T>(fn: () => Promise<T>): Promise<{ result: T; spread: string[] }> {
  const backend = tf.backend() as unknown as {
    device: GPUDevice;
    runWebGPUProgram: (p: { parallelism?: ProgramParallelism; dispatch: number[] }, ...rest: unknown[]) => unknown;
  };
  const { device } = backend;
  const own = Object.getOwnPropertyDescriptor(device, 'limits');
  const real = device.limits;
  const run = backend.runWebGPUProgram;
  const spread: string[] = [];
  backend.runWebGPUProgram = (p, ...rest) => {
    const workgroups = p.parallelism ? workgroupsFor(p.parallelism.invocations) : 1;
    if (workgroups <= 2) return run.call(backend, p, ...rest);
    const limit = Math.ceil(Math.sqrt(workgroups));
    const limits: Record<string, number> = {};
    for (const k in real) limits[k] = (real as unknown as Record<string, number>)[k]!;
    Object.defineProperty(device, 'limits', { value: { ...limits, maxComputeWorkgroupsPerDimension: limit }, configurable: true });
    try {
      const out = run.call(backend, p, ...rest);
      if (p.dispatch[1]! > 1) spread.push(p.parallelism!.program);
      return out;
    } finally {
      if (own) Object.defineProperty(device, 'limits', own);
      else delete (device as unknown as { limits?: unknown }).limits;
    }
  };
  try {
    return { result: await withLeanDispatch(false, fn), spread };
  } finally {
    backend.runWebGPUProgram = run;
  }
}
