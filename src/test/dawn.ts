// Tests of the engine on WebGPU in Node: Dawn (the npm package `webgpu`) on the machine's Vulkan adapter, SwiftShader
// from Debian's chromium when it has no GPU (scripts/lib/dawn.ts). A file that calls useDawn() runs its tests on the
// tfjs WebGPU backend; vitest runs each file in a process of its own, so the others stay on the CPU backend.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll } from 'vitest';
import { startDawn, type Dawn } from '../../scripts/lib/dawn';

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
