// When recorded commands go to the GPU's queue. tfjs-webgpu submits every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE
// dispatches (15 by default), so that a GPU starts on a step while JavaScript is still recording the rest of it:
// right where the GPU is a chip of its own. On a software adapter (SwiftShader, llvmpipe) the "GPU" is threads on the
// same CPU cores as the recording, and every early submission starts them competing with it: on this 2-core machine
// the default step's recording took 45–90 ms of wall time with a submission every 15 dispatches and 19 ms with one at
// the step's own read, for the same 11–14 ms of CPU time and the same step time (BENCHMARKS.md, "Recording a step").
// So on a software adapter the engine submits where the step reads (and every SOFTWARE_SUBMIT_BATCH dispatches in
// work that reads nothing for longer); on a hardware one it keeps tfjs's batches.
import * as tf from '@tensorflow/tfjs';

const FLAG = 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE';

/** tfjs-webgpu 4.22's own batch, kept on hardware adapters. */
export const HARDWARE_SUBMIT_BATCH = 15;

/**
 * Dispatches between submissions on a software adapter: more than any step records between its reads (the default
 * step records 86, ResNet-18's a few hundred), few enough that long work that never reads (an exploration's
 * embedding of a chunk, a compile pass) still reaches the queue in pieces, and that the uniform buffers tfjs frees
 * only at a submission stay few.
 */
export const SOFTWARE_SUBMIT_BATCH = 1024;

export type Submission = 'software' | 'hardware';

/** The batch for an adapter. */
export function submitBatchFor(adapter: Submission): number {
  return adapter === 'software' ? SOFTWARE_SUBMIT_BATCH : HARDWARE_SUBMIT_BATCH;
}

/**
 * Sets the WebGPU backend's submission batch for the adapter it runs on (call it once the backend has started, from
 * where the adapter is known: the worker's backend choice, scripts/lib/dawn.ts). Returns the batch set.
 */
export function useSubmissionFor(adapter: Submission): number {
  const batch = submitBatchFor(adapter);
  tf.env().set(FLAG, batch);
  return batch;
}

/** The batch in force now. */
export function submitBatch(): number {
  return tf.env().getNumber(FLAG);
}
