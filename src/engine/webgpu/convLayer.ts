// tfjs-layers' Conv2D, training without tfjs's fused-convolution wrapper where the engine's own convolutions run
// (WebGPU, the fused kernels on, no bias, no activation, channels last): tf.conv2d, whose gradient tfjs computes input
// by input as the tape asks. tfjs-layers calls tf.fused.conv2d, a custom gradient that computes the input's gradient
// eagerly with the filter's, so every step computed the first layer's gradient with respect to the images, a
// full-resolution dispatch that nothing reads. Everywhere else exactly the tfjs layer; same class name and config, so
// saved models do not change.
import * as tf from '@tensorflow/tfjs';
import { fusedBackend } from './programs';

type Conv2DLayer = ReturnType<typeof tf.layers.conv2d>;
type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type Kwargs = Parameters<Conv2DLayer['call']>[1];

/** The layer's own fields (protected in tfjs-layers' declarations). */
interface Conv2DInternals {
  kernel: { read(): tf.Tensor };
  bias: unknown;
  activation: { getClassName(): string };
  strides: number[];
  padding: 'same' | 'valid' | 'causal';
  dataFormat: string;
  dilationRate: number[];
}

const Conv2DBase = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: Conv2DArgs) => Conv2DLayer;

export class EngineConv2D extends Conv2DBase {
  static className = 'Conv2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const self = this as unknown as Conv2DInternals;
    const plain =
      self.bias == null &&
      self.activation.getClassName() === 'linear' &&
      self.dataFormat === 'channelsLast' &&
      self.padding !== 'causal' &&
      self.dilationRate.every((d) => d === 1) &&
      input.rank === 4 &&
      input.dtype === 'float32';
    if (plain && fusedBackend()) {
      return tf.conv2d(input as tf.Tensor4D, self.kernel.read() as tf.Tensor4D, self.strides as [number, number], self.padding as 'same' | 'valid');
    }
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(EngineConv2D as unknown as tf.serialization.SerializableConstructor<EngineConv2D>);
