// tfjs-layers' GlobalAveragePooling2D with a flat WebGPU kernel (one invocation per image and channel) and a flat
// gradient (dy / (H·W) spread over the positions), instead of tfjs's mean: a transpose and a shared-memory
// reduction forward, a broadcasting multiply and divide backward. Everywhere else (CPU, WebGL, the flag off) exactly
// the tfjs layer; same class name and config, so saved models do not change.
import * as tf from '@tensorflow/tfjs';
import { guard, kernelProgram, runKernel, UniformList, type KernelArgs } from './kernelBuilder';
import { fusedBackend } from './programs';

export const SPATIAL_MEAN = 'TabclrSpatialMean';
export const SPATIAL_MEAN_GRAD = 'TabclrSpatialMeanGrad';

const SIZES = new UniformList(['images', 'positions', 'channels'] as const);

// Per (image, channel): the mean over the image's positions.
const meanProgram = (images: number, positions: number, channels: number) =>
  kernelProgram({
    name: 'spatial_mean',
    inputs: [{ name: 'X' }],
    outputSize: images * channels,
    uniforms: SIZES.declaration,
    invocations: images * channels,
    serialLoop: positions,
    body: () => `${guard('index', 'uniforms.images * uniforms.channels')}
  let c = index % uniforms.channels;
  let n = index / uniforms.channels;
  var sum = 0.0;
  let base = n * uniforms.positions * uniforms.channels + c;
  for (var p = 0; p < uniforms.positions; p++) { sum += X[base + p * uniforms.channels]; }
  result[index] = sum / f32(uniforms.positions);`,
  });

// Per input value: its image and channel's dy, spread evenly over the positions.
const gradProgram = (size: number) =>
  kernelProgram({
    name: 'spatial_mean_grad',
    inputs: [{ name: 'DY' }],
    outputSize: size,
    uniforms: SIZES.declaration,
    invocations: size,
    serialLoop: 1,
    body: () => `${guard('index', 'uniforms.images * uniforms.positions * uniforms.channels')}
  let c = index % uniforms.channels;
  let n = index / (uniforms.positions * uniforms.channels);
  result[index] = DY[n * uniforms.channels + c] / f32(uniforms.positions);`,
  });

function sizes(shape: number[]) {
  const [images, h, w, channels] = shape as [number, number, number, number];
  return { images, positions: h * w, channels };
}

if (!tf.getKernel(SPATIAL_MEAN, 'webgpu')) {
  tf.registerKernel({
    kernelName: SPATIAL_MEAN,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const x = inputs['x']!;
      const s = sizes(x.shape);
      const out = runKernel(backend, meanProgram(s.images, s.positions, s.channels), [x], SIZES.values(s));
      return { dataId: out.dataId, shape: [s.images, s.channels], dtype: 'float32' };
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SPATIAL_MEAN_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, attrs, backend }: KernelArgs) => {
      const shape = (attrs as { shape: number[] }).shape;
      const size = shape.reduce((a, b) => a * b, 1);
      const out = runKernel(backend, gradProgram(size), [inputs['dy']!], SIZES.values(sizes(shape)));
      return { dataId: out.dataId, shape, dtype: 'float32' };
    }) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: SPATIAL_MEAN,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [tf.Tensor];
      return { x: () => tf.engine().runKernel(SPATIAL_MEAN_GRAD, { dy: dy as tf.Tensor }, { shape: x.shape }) as tf.Tensor };
    },
  });
}

type GlobalAveragePoolingLayer = ReturnType<typeof tf.layers.globalAveragePooling2d>;
type GlobalAveragePoolingArgs = Parameters<typeof tf.layers.globalAveragePooling2d>[0];
type Kwargs = Parameters<GlobalAveragePoolingLayer['call']>[1];

const GlobalAveragePoolingBase = tf.layers.globalAveragePooling2d({}).constructor as new (args: GlobalAveragePoolingArgs) => GlobalAveragePoolingLayer;

export class FusedGlobalAveragePooling2D extends GlobalAveragePoolingBase {
  static className = 'GlobalAveragePooling2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const channelsLast = (this as unknown as { dataFormat: string }).dataFormat === 'channelsLast';
    if (channelsLast && input.rank === 4 && input.dtype === 'float32' && fusedBackend()) {
      return tf.engine().runKernel(SPATIAL_MEAN, { x: input }, {}) as tf.Tensor;
    }
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(FusedGlobalAveragePooling2D as unknown as tf.serialization.SerializableConstructor<FusedGlobalAveragePooling2D>);
