// What tfjs's gradient tape keeps of a kernel for its gradient, kept without a kernel per tensor. tfjs-core 4.22 saves
// each tensor a gradient needs (a convolution's input and filter, batch norm's input, gamma and statistics) as
// tf.clone(t): an Identity kernel run through the engine (its dispatch to the backend, its own tape node, a new tensor
// tracked by the scope) whose only effect is one more reference to the same data. The default step saves 41 tensors
// that way, half its 85 kernels (BENCHMARKS.md, "Recording a step"). Here a saved tensor is the same thing made
// directly: a new tensor of the data, its reference counted by the backend as the Identity kernel counts it
// (backend.incRef, which every backend's Identity calls), kept and tracked alike, and disposed by the tape after the
// backward pass as tfjs disposes its clones.
//
// What it leaves out is the clone's tape node, whose only use is a gradient of a gradient (tf.grad of a function that
// itself calls tf.grad), through the saved tensors (inside withLeanSaves, one finds no path and throws): hence only
// around a training step's one gradient, never for the rest of the program.
//
// Only for tfjs-core 4.22 (pinned in package.json): Engine.saveTensorsForBackwardMode is not public API. A tfjs whose
// engine has no such method runs the function unchanged.
import * as tf from '@tensorflow/tfjs';

interface EngineInternals {
  saveTensorsForBackwardMode?(tensors: tf.Tensor[]): tf.Tensor[];
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: unknown): tf.Tensor;
  keep<T extends tf.Tensor>(t: T): T;
  backend: { incRef(dataId: object): void };
}

/** Saved tensors made directly (see above); `this` is the engine. */
function saveShared(this: EngineInternals, tensors: tf.Tensor[]): tf.Tensor[] {
  return tensors.map((t) => {
    this.backend.incRef(t.dataId);
    return this.keep(this.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }));
  });
}

/**
 * Runs fn with the tape saving tensors without an Identity kernel each (see above); for a function whose gradient is
 * not itself differentiated. Re-entrant; tfjs's own saving is back when the outermost call returns or throws.
 */
export function withLeanSaves<T>(fn: () => T): T {
  const engine = tf.engine() as unknown as EngineInternals;
  if (typeof engine.saveTensorsForBackwardMode !== 'function' || Object.prototype.hasOwnProperty.call(engine, 'saveTensorsForBackwardMode')) return fn();
  engine.saveTensorsForBackwardMode = saveShared;
  try {
    return fn();
  } finally {
    delete engine.saveTensorsForBackwardMode;
  }
}
