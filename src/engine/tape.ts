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
// The same scope hands a kernel's gradient no zeros for its outputs that nothing downstream used, where the kernel
// says its gradient reads only its first output's (withoutUnusedDys: batch norm's statistics, NT-Xent's saved
// intermediates): tfjs fills each with zeros made on the CPU (an array, a tensor, its disposal), ten a default step.
//
// Only for tfjs-core 4.22 (pinned in package.json): Engine.saveTensorsForBackwardMode and addTapeNode are not public
// API. A tfjs whose engine has no such methods runs the function unchanged.
import * as tf from '@tensorflow/tfjs';

type GradFunc = (dy: tf.Tensor | (tf.Tensor | null)[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => unknown;

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: tf.NamedTensorMap;
  outputs: tf.Tensor[];
  saved: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => unknown;
}

interface EngineInternals {
  saveTensorsForBackwardMode?(tensors: tf.Tensor[]): tf.Tensor[];
  addTapeNode?(kernelName: string, inputs: tf.NamedTensorMap, outputs: tf.Tensor[], gradientsFunc: GradFunc | null, saved: tf.Tensor[], attrs: tf.NamedAttrMap): void;
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: unknown): tf.Tensor;
  makeTensor(values: tf.TypedArray, shape: number[], dtype: tf.DataType): tf.Tensor;
  keep<T extends tf.Tensor>(t: T): T;
  backend: { incRef(dataId: object): void };
  state: { nextTapeNodeId: number; activeTape: TapeNode[] };
}

/** Kernels whose gradient reads its first output's dy only (see withoutUnusedDys). */
const firstDyOnly = new Set<string>();

/**
 * Declares that the gradient of `kernelName` (a kernel with several outputs) reads the dy of its first output only, so
 * that inside withLeanSaves its other outputs' dys, where nothing used those outputs, reach it as null rather than as
 * zeros made for it.
 */
export function withoutUnusedDys(kernelName: string): void {
  firstDyOnly.add(kernelName);
}

/** tfjs's addTapeNode, but for the kernels of firstDyOnly: no zeros for the dys after the first (see above). */
function addLeanTapeNode(
  this: EngineInternals,
  own: NonNullable<EngineInternals['addTapeNode']>,
  kernelName: string,
  inputs: tf.NamedTensorMap,
  outputs: tf.Tensor[],
  gradientsFunc: GradFunc | null,
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
): void {
  if (!firstDyOnly.has(kernelName) || outputs.length < 2) return own.call(this, kernelName, inputs, outputs, gradientsFunc, saved, attrs);
  // tfjs's rule: a registered gradient, when there is one, else the function the kernel was run with.
  const config = tf.getGradient(kernelName);
  const gradFunc = config != null ? (config.gradFunc as GradFunc | undefined) : gradientsFunc;
  if (!gradFunc) return own.call(this, kernelName, inputs, outputs, gradientsFunc, saved, attrs);
  const node: TapeNode = { id: this.state.nextTapeNodeId++, kernelName, inputs, outputs, saved };
  node.gradient = (dys) => {
    // The first output's dy as tfjs gives it (zeros when nothing used it either); the others as they are.
    const y = outputs[0]!;
    const first = dys[0] ?? this.makeTensor(tf.util.makeZerosTypedArray(y.size, y.dtype) as tf.TypedArray, y.shape, y.dtype);
    return gradFunc([first, ...dys.slice(1)], saved, attrs);
  };
  this.state.activeTape.push(node);
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
  const own = engine.addTapeNode;
  const patched = (name: string) => Object.prototype.hasOwnProperty.call(engine, name);
  // Inside another call (nested), or over someone else's patch: run as it is.
  if (typeof engine.saveTensorsForBackwardMode !== 'function' || typeof own !== 'function' || patched('saveTensorsForBackwardMode') || patched('addTapeNode')) {
    return fn();
  }
  engine.saveTensorsForBackwardMode = saveShared;
  engine.addTapeNode = function (this: EngineInternals, ...args) {
    addLeanTapeNode.call(this, own, ...args);
  };
  try {
    return fn();
  } finally {
    delete engine.saveTensorsForBackwardMode;
    delete engine.addTapeNode;
  }
}
