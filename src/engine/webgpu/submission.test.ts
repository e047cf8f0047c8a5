// When a step's commands reach the queue (submission.ts), on Dawn in Node: on the software adapter the tests run on, a
// training step is submitted where it reads (the step's numbers, and the update with the next read), not every 15
// dispatches; the step's numbers and weights are the same either way, to the bit: the same commands in the same order.
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultTrainConfig } from '../config';
import { selfTestConfig } from '../selftest';
import { createTrainState, disposeTrainState, trainStep, type StepMetrics } from '../step';
import { syntheticImages } from '../synthetic';
import { useDawn } from '../../test/dawn';
import { HARDWARE_SUBMIT_BATCH, SOFTWARE_SUBMIT_BATCH, submitBatch, submitBatchFor, useSubmissionFor } from './submission';

const gpu = useDawn();

afterEach(() => {
  useSubmissionFor(gpu.dawn.adapter.software ? 'software' : 'hardware');
});

/** Three training steps at a submission batch: each step's numbers, the weights after, and the submissions made. */
async function steps(batch: number): Promise<{ metrics: StepMetrics[]; weights: Float32Array; submits: number; dispatches: number }> {
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batch);
  const config = selfTestConfig();
  config.augment = { ...defaultTrainConfig(8, 3).augment, blurProb: 0.5 };
  const { imageSize: s, channels: c } = config.model;
  const images = tf.tensor4d(syntheticImages(config.batchSize, s, c, 5), [config.batchSize, s, s, c], 'int32');
  const state = createTrainState(config);
  const queue = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const backend = tf.backend() as unknown as { runWebGPUProgram: (...args: unknown[]) => unknown };
  const submit = queue.submit;
  const run = backend.runWebGPUProgram;
  let submits = 0;
  let dispatches = 0;
  const metrics: StepMetrics[] = [await trainStep(state, images)];
  queue.submit = function (this: GPUQueue, ...args: unknown[]) {
    submits += 1;
    return (submit as (...a: unknown[]) => void).apply(this, args);
  } as GPUQueue['submit'];
  backend.runWebGPUProgram = (...args: unknown[]) => {
    dispatches += 1;
    return run.apply(backend, args);
  };
  try {
    for (let i = 0; i < 2; i++) metrics.push(await trainStep(state, images));
  } finally {
    queue.submit = submit;
    backend.runWebGPUProgram = run;
  }
  const weights = Float32Array.from((await Promise.all(state.params.map((p) => p.variable.data()))).flatMap((d) => [...(d as Float32Array)]));
  disposeTrainState(state);
  images.dispose();
  return { metrics, weights, submits, dispatches };
}

describe('queue submission', () => {
  it('is chosen from the adapter: batches of 15 on hardware, at the reads on a software adapter', () => {
    expect(submitBatchFor('hardware')).toBe(HARDWARE_SUBMIT_BATCH);
    expect(submitBatchFor('software')).toBe(SOFTWARE_SUBMIT_BATCH);
    // scripts/lib/dawn.ts chose for the adapter these tests run on (SwiftShader here).
    expect(submitBatch()).toBe(submitBatchFor(gpu.dawn.adapter.software ? 'software' : 'hardware'));
    expect(useSubmissionFor('hardware')).toBe(15);
    expect(tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE')).toBe(15);
  });

  it('a step submits at its reads with the software batch, every 15 dispatches with tfjs’s; the numbers are the same', async () => {
    const deferred = await steps(SOFTWARE_SUBMIT_BATCH);
    const batched = await steps(HARDWARE_SUBMIT_BATCH);
    expect(deferred.dispatches).toBe(batched.dispatches);
    // Two steps of about 85 dispatches: tfjs's batches submit more than ten times; the reads alone (each step's
    // numbers, which also carry the previous update) a few.
    expect(batched.submits).toBeGreaterThanOrEqual(Math.floor(batched.dispatches / HARDWARE_SUBMIT_BATCH));
    expect(deferred.submits).toBeGreaterThanOrEqual(2);
    expect(deferred.submits).toBeLessThanOrEqual(6);
    expect(deferred.metrics).toEqual(batched.metrics);
    expect([...deferred.weights]).toEqual([...batched.weights]);
  }, 120_000);
});
