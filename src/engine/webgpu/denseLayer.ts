// tfjs-layers' Dense on WebGPU as one kernel forward and one per gradient, each a 1×1 convolution of 1×1 images run by
// conv2dGemm.ts's programs (x [N, in] read as [N, 1, 1, in], the kernel [in, out] as [1, 1, in, out]): the forward
// product (and the bias, one more program), the input gradient dy · kernelᵀ, and the kernel gradient xᵀ · dy with its
// reduction over the rows split as a convolution's filter gradient is; the bias gradient, dy's column sums, in programs
// of its own split the same way. tfjs-layers computes a dense layer through
// tf.fused.matMul: reshapes to three dimensions and back around every product, forward and backward (about 13 tfjs
// kernels a layer, a clone of each tensor the tape saves among them), and tfjs's own matrix-product programs, which
// go through tfjs's full per-dispatch path; these run through the lean one (leanDispatch.ts). Everywhere else (CPU,
// WebGL, the flag off, an activation other than linear, an input of another rank) exactly the tfjs layer; same class
// name and config, so saved models, exports and checkpoints do not change.
import * as tf from '@tensorflow/tfjs';
import { convFilterGrad, convForward, convInputGrad, coveredConvolution, filterGradSplit, sumChunks, type ConvInfo } from './conv2dGemm';
import { disposeInfo, guard, kernelProgram, runKernel, UniformList, type KernelArgs } from './kernelBuilder';
import { fusedBackend } from './programs';

export const DENSE = 'TabclrDense';
export const DENSE_INPUT_GRAD = 'TabclrDenseInputGrad';
export const DENSE_KERNEL_GRAD = 'TabclrDenseKernelGrad';
export const DENSE_BIAS_GRAD = 'TabclrDenseBiasGrad';

const BIAS = new UniformList(['size', 'units'] as const);
const BIAS_GRAD = new UniformList(['rows', 'units', 'chunks', 'chunkRows'] as const);

// Per output value: the product plus its column's bias.
const biasProgram = (size: number) =>
  kernelProgram({
    name: 'dense_bias',
    inputs: [{ name: 'Y' }, { name: 'B' }],
    outputSize: size,
    uniforms: BIAS.declaration,
    invocations: size,
    serialLoop: 1,
    body: () => `${guard('index', 'uniforms.size')}
  result[index] = Y[index] + B[index % uniforms.units];`,
  });

// The bias gradient, dy summed over the rows, column by column: per (chunk of rows, column) the chunk's sum, then (past one
// chunk) per column the chunks' sums (conv2dGemm.ts's sumChunks); the rows split as a convolution's filter gradient
// splits its positions.
const biasGradPartialsProgram = (units: number, chunks: number, chunkRows: number) =>
  kernelProgram({
    name: 'dense_bias_grad_partials',
    inputs: [{ name: 'DY' }],
    outputSize: chunks * units,
    uniforms: BIAS_GRAD.declaration,
    invocations: chunks * units,
    serialLoop: chunkRows,
    body: () => `${guard('index', 'uniforms.chunks * uniforms.units')}
  let c = index % uniforms.units;
  let start = (index / uniforms.units) * uniforms.chunkRows;
  let stop = min(start + uniforms.chunkRows, uniforms.rows);
  var sum = 0.0;
  for (var r = start; r < stop; r++) { sum += DY[r * uniforms.units + c]; }
  result[index] = sum;`,
  });

const infos = new Map<string, ConvInfo>();

/** The 1×1 convolution that is a dense layer of `inputs` → `units` on `rows` rows (made once per size). */
function denseConvInfo(rows: number, inputs: number, units: number): ConvInfo {
  const key = `${rows}|${inputs}|${units}`;
  let info = infos.get(key);
  if (!info) {
    if (infos.size >= 256) infos.clear();
    info = tf.backend_util.computeConv2DInfo([rows, 1, 1, inputs], [1, 1, inputs, units], 1, 1, 'valid');
    infos.set(key, info);
  }
  return info;
}

/** Whether these kernels compute a dense layer of these sizes here (conv2dGemm.ts covers two input channels or more). */
function coveredDense(rows: number, inputs: number, units: number): boolean {
  return coveredConvolution(denseConvInfo(rows, inputs, units));
}

const as = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });

if (!tf.getKernel(DENSE, 'webgpu')) {
  tf.registerKernel({
    kernelName: DENSE,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const x = inputs['x']!;
      const kernel = inputs['kernel']!;
      const bias = inputs['bias'];
      const [rows, units] = [x.shape[0]!, kernel.shape[1]!];
      const product = convForward(backend, denseConvInfo(rows, x.shape[1]!, units), x, kernel);
      if (!bias) return as(product, [rows, units]);
      const size = rows * units;
      const out = runKernel(backend, biasProgram(size), [product, bias], BIAS.values({ size, units }));
      disposeInfo(backend, product);
      return as(out, [rows, units]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: DENSE_INPUT_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const dy = inputs['dy']!;
      const kernel = inputs['kernel']!;
      const [rows, inputsCount] = [dy.shape[0]!, kernel.shape[0]!];
      return as(convInputGrad(backend, denseConvInfo(rows, inputsCount, kernel.shape[1]!), dy, kernel), [rows, inputsCount]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: DENSE_KERNEL_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const x = inputs['x']!;
      const dy = inputs['dy']!;
      const [inputsCount, units] = [x.shape[1]!, dy.shape[1]!];
      return as(convFilterGrad(backend, denseConvInfo(x.shape[0]!, inputsCount, units), x, dy), [inputsCount, units]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: DENSE_BIAS_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const dy = inputs['dy']!;
      const [rows, units] = dy.shape as [number, number];
      const { chunks, chunkRows } = filterGradSplit(rows, 1, units);
      const sizes = BIAS_GRAD.values({ rows, units, chunks, chunkRows });
      const partials = runKernel(backend, biasGradPartialsProgram(units, chunks, chunkRows), [dy], sizes);
      return as(chunks === 1 ? partials : sumChunks(backend, partials, units, chunks), [units]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: DENSE,
    inputsToSave: ['x', 'kernel'],
    gradFunc: (dy, saved) => {
      const [x, kernel] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return {
        x: () => tf.engine().runKernel(DENSE_INPUT_GRAD, { dy: g, kernel }, {}) as tf.Tensor,
        kernel: () => tf.engine().runKernel(DENSE_KERNEL_GRAD, { x, dy: g }, {}) as tf.Tensor,
        bias: () => tf.engine().runKernel(DENSE_BIAS_GRAD, { dy: g }, {}) as tf.Tensor,
      };
    },
  });
}

type DenseLayer = ReturnType<typeof tf.layers.dense>;
type DenseArgs = Parameters<typeof tf.layers.dense>[0];
type Kwargs = Parameters<DenseLayer['call']>[1];

/** The layer's own fields (protected in tfjs-layers' declarations). */
interface DenseInternals {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  activation: { getClassName(): string };
}

const DenseBase = tf.layers.dense({ units: 1 }).constructor as new (args: DenseArgs) => DenseLayer;

export class EngineDense extends DenseBase {
  static className = 'Dense';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const self = this as unknown as DenseInternals;
    if (input.rank === 2 && input.dtype === 'float32' && self.activation.getClassName() === 'linear' && fusedBackend()) {
      const kernel = self.kernel.read();
      if (coveredDense(input.shape[0]!, input.shape[1]!, kernel.shape[1]!)) {
        const bias = self.bias?.read();
        return tf.engine().runKernel(DENSE, { x: input, kernel, ...(bias ? { bias } : {}) }, {}) as tf.Tensor;
      }
    }
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(EngineDense as unknown as tf.serialization.SerializableConstructor<EngineDense>);
