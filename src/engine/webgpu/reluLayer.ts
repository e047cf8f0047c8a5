// tfjs-layers' ReLU with one program each way on WebGPU: y = max(x, 0) forward, dx = dy where y > 0 backward, instead
// of tfjs's Relu forward and its gradient as three ops (Step, Cast, Multiply; two dispatches). Everywhere else (CPU,
// WebGL, the flag off, a maxValue) exactly the tfjs layer; same class name and config, so saved models do not change.
import * as tf from '@tensorflow/tfjs';
import { UniformList, guard, kernelProgram, runKernel, type KernelArgs, type ProgramParallelism } from './kernelBuilder';
import { fusedBackend } from './programs';

export const RELU = 'TabclrRelu';
export const RELU_GRAD = 'TabclrReluGrad';
/** A rectified tensor handed on: the same buffer, no dispatch, and the gradient handed back as it comes. */
export const RECTIFIED = 'TabclrRectified';

const SIZES = new UniformList(['size'] as const);

/** WGSL for relu(x), tfjs-webgpu's own formula: a NaN stays NaN where the compiler keeps NaNs (max(x, 0) may give 0). */
export const reluOf = (x: string) => `select(${x}, 0.0, ${x} < 0.0)`;

/**
 * WGSL for the gradient through a ReLU, taken from its output y (y > 0 exactly where x > 0, as tfjs's Relu_grad takes
 * it through the input): dy where y > 0; as tfjs's Step does, a NaN y passes through where the compiler keeps NaNs.
 */
export const reluGradOf = (y: string, dy: string) => `select(select(0.0, ${dy}, ${y} > 0.0), ${y}, ${y} != ${y})`;

const forwardProgram = (size: number) =>
  kernelProgram({
    name: 'relu',
    inputs: [{ name: 'X' }],
    outputSize: size,
    uniforms: SIZES.declaration,
    invocations: size,
    serialLoop: 1,
    body: () => `${guard('index', 'uniforms.size')}
  let x = X[index];
  result[index] = ${reluOf('x')};`,
  });

const gradProgram = (size: number) =>
  kernelProgram({
    name: 'relu_grad',
    inputs: [{ name: 'Y' }, { name: 'DY' }],
    outputSize: size,
    uniforms: SIZES.declaration,
    invocations: size,
    serialLoop: 1,
    body: () => `${guard('index', 'uniforms.size')}
  let y = Y[index];
  result[index] = ${reluGradOf('y', 'DY[index]')};`,
  });

/** The two dispatches of one ReLU of `size` values, forward then backward. */
export function reluParallelism(size: number): ProgramParallelism[] {
  return [forwardProgram(size).parallelism, gradProgram(size).parallelism];
}

const sized = (info: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: info.dataId, shape, dtype: 'float32' });

if (!tf.getKernel(RELU, 'webgpu')) {
  tf.registerKernel({
    kernelName: RELU,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const x = inputs['x']!;
      const size = x.shape.reduce((a, b) => a * b, 1);
      return sized(runKernel(backend, forwardProgram(size), [x], SIZES.values({ size })), x.shape);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const { y, dy } = inputs as Record<string, tf.TensorInfo>;
      const size = y!.shape.reduce((a, b) => a * b, 1);
      return sized(runKernel(backend, gradProgram(size), [y!, dy!], SIZES.values({ size })), y!.shape);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: RECTIFIED,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const x = inputs['x']!;
      // As tfjs's Reshape shares a buffer: one reference more.
      (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as unknown as tf.KernelFunc,
  });
  // relu(y) = y for a rectified y: the gradient is dy itself (tfjs-layers' clone of a layer's input, an Identity, has a
  // Cast for its gradient).
  tf.registerGradient({ kernelName: RECTIFIED, gradFunc: (dy) => ({ x: () => dy as tf.Tensor }) });
  tf.registerGradient({
    kernelName: RELU,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved as [tf.Tensor];
      return { x: () => tf.engine().runKernel(RELU_GRAD, { y, dy: dy as tf.Tensor }, {}) as tf.Tensor };
    },
  });
}

type ReLULayer = ReturnType<typeof tf.layers.reLU>;
type ReLUArgs = NonNullable<Parameters<typeof tf.layers.reLU>[0]>;
type Kwargs = Parameters<ReLULayer['call']>[1];

const ReLUBase = tf.layers.reLU({}).constructor as new (args?: ReLUArgs) => ReLULayer;

/**
 * Outputs already rectified by the layer before (batchNormLayer.ts, a batch norm a ReLU follows): the ReLU hands them on
 * as another tensor of the same buffer (RECTIFIED), the network's to dispose as any other. Handing on its input itself,
 * the layer would get a clone from tfjs-layers: an Identity, and a Cast in the backward pass.
 */
export const rectifiedOutputs = new WeakSet<tf.Tensor>();

export class FusedReLU extends ReLUBase {
  static className = 'ReLU';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const maxValue = (this as unknown as { maxValue?: number | null }).maxValue;
    if (maxValue == null && rectifiedOutputs.has(input) && fusedBackend()) return tf.engine().runKernel(RECTIFIED, { x: input }, {}) as tf.Tensor;
    if (maxValue == null && input.dtype === 'float32' && fusedBackend()) return tf.engine().runKernel(RELU, { x: input }, {}) as tf.Tensor;
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(FusedReLU as unknown as tf.serialization.SerializableConstructor<FusedReLU>);
