// startDawn asked to lower a software adapter's worker threads (adapterPriority.ts): SwiftShader's workers run at the
// lowest priority, and only when a core is otherwise idle where chrt can say so; the JavaScript thread keeps its own;
// the device computes as before.
import { spawnSync } from 'node:child_process';
import { getPriority } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processThreads, SCHED_IDLE, SOFTWARE_ADAPTER_NICE, threadPolicy } from './adapterPriority';
import { startDawn, type Dawn } from './dawn';

let dawn: Dawn;
const ownNice = getPriority(process.pid);
const ownPolicy = threadPolicy(process.pid);
beforeAll(async () => {
  dawn = await startDawn([], { lowerSoftwareAdapter: true });
}, 120_000);
afterAll(async () => {
  await dawn?.stop();
});

const swiftShader = () => process.platform === 'linux' && /swiftshader/i.test(`${dawn.adapter.architecture} ${dawn.adapter.description}`);

describe('startDawn with the software adapter’s threads lowered', () => {
  it('leaves a hardware adapter’s threads alone', () => {
    if (!dawn.adapter.software) expect(dawn.loweredThreads).toBeNull();
    else expect(dawn.loweredThreads).not.toBeNull();
  });

  it.runIf(process.platform === 'linux')('runs SwiftShader’s workers behind the JavaScript thread, which keeps its priority', async (ctx) => {
    // Another software adapter (llvmpipe) names its threads otherwise: nothing is lowered, nothing to check.
    if (!swiftShader()) ctx.skip();
    const lowered = dawn.loweredThreads!;
    // SwiftShader computes in workers of its own: at least one, each lowered, each still this process's.
    expect(lowered.threads.length).toBeGreaterThan(0);
    expect(lowered.nice).toBe(SOFTWARE_ADAPTER_NICE);
    const threads = processThreads();
    for (const id of lowered.threads) {
      expect(threads.get(id)).toMatch(/^Thread<\d+>$/);
      expect(getPriority(id)).toBe(SOFTWARE_ADAPTER_NICE);
      // SCHED_IDLE where chrt could set it (as it can on Debian, util-linux being essential), and as reported.
      expect(threadPolicy(id)).toBe(lowered.idle ? SCHED_IDLE : ownPolicy);
    }
    // Where this system lets chrt start a process under SCHED_IDLE, the workers must have got it too.
    if (spawnSync('chrt', ['--idle', '0', 'true'], { stdio: 'ignore' }).status === 0) expect(lowered.idle).toBe(true);
    expect(getPriority(process.pid)).toBe(ownNice);
    expect(threadPolicy(process.pid)).toBe(ownPolicy);
    // The device still computes, on the lowered workers.
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const product = tf.matMul(a, a);
    expect(Array.from(await product.data())).toEqual([7, 10, 15, 22]);
    tf.dispose([a, product]);
  });
});
