// Encoders f(·): image → representation h (the pooled feature vector users keep).
import * as tf from '@tensorflow/tfjs';
import type { EncoderName, InitScheme, ModelConfig } from './config';
import { convBnRelu, dense, denseKernel, globalAveragePool, relu, scaledWidth, torchBias } from './layers';
import { Random } from './random';

export const ENCODER_NAMES: readonly EncoderName[] = ['convnet4', 'resnet18'];

/**
 * convnet4: four conv blocks (3×3 conv, batch norm, ReLU; the last three downsample by stride 2), global average
 * pooling, then a dense layer. The layout of the keras-io SimCLR example and of tabclr's original description;
 * pooled rather than flattened, because a flattening encoder keeps pixel layout and gains little from training
 * (the recipe's Fashion-MNIST ablation).
 */
function convnet4(input: tf.SymbolicTensor, width: number, rng: Random, options: EncoderOptions): tf.SymbolicTensor {
  let x = input;
  [32, 64, 128, 256].forEach((base, i) => {
    x = convBnRelu(x, `block${i + 1}`, scaledWidth(base, width), { strides: i === 0 ? 1 : 2, init: options.init }, rng);
  });
  x = globalAveragePool('pool').apply(x) as tf.SymbolicTensor;
  const pooled = scaledWidth(256, width);
  return dense({
    name: 'representation',
    units: scaledWidth(256, width),
    activation: options.representationRelu ? 'relu' : 'linear',
    kernelInitializer: denseKernel(options.init, rng),
    // Keras starts biases at zero; PyTorch draws them like the weights.
    ...(options.init === 'torch' ? { biasInitializer: torchBias(pooled, rng) } : {}),
  }).apply(x) as tf.SymbolicTensor;
}

interface EncoderOptions {
  init: InitScheme;
  representationRelu: boolean;
}

/** A ResNet basic block: two 3×3 convs and an identity (or 1×1 projection) shortcut. */
function basicBlock(x: tf.SymbolicTensor, name: string, filters: number, strides: number, rng: Random, init: InitScheme): tf.SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  const shortcut =
    strides !== 1 || inChannels !== filters
      ? convBnRelu(x, `${name}_shortcut`, filters, { kernelSize: 1, strides, relu: false, init }, rng)
      : x;
  let y = convBnRelu(x, `${name}_1`, filters, { strides, init }, rng);
  // Zero-init of the last BN's gamma makes each block start as the identity (Goyal et al. 2017; SimCLR resnet.py).
  y = convBnRelu(y, `${name}_2`, filters, { relu: false, zeroGamma: true, init }, rng);
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return relu(`${name}_relu`).apply(sum) as tf.SymbolicTensor;
}

/** ResNet-18 in its small-image form (SimCLR's CIFAR variant): a 3×3 stride-1 stem and no max-pool. */
function resnet18(input: tf.SymbolicTensor, width: number, rng: Random, { init }: EncoderOptions): tf.SymbolicTensor {
  let x = convBnRelu(input, 'stem', scaledWidth(64, width), { init }, rng);
  [64, 128, 256, 512].forEach((base, stage) => {
    for (let block = 0; block < 2; block++) {
      const strides = stage > 0 && block === 0 ? 2 : 1;
      x = basicBlock(x, `stage${stage + 1}_block${block + 1}`, scaledWidth(base, width), strides, rng, init);
    }
  });
  return globalAveragePool('representation').apply(x) as tf.SymbolicTensor;
}

/**
 * The encoder as a Layers model: input [S, S, C] in [0, 1], output h. `init` and `representationRelu` default to what
 * new runs get (defaultTrainConfig); a stored config has them filled in by normaliseTrainConfig.
 */
export function createEncoder(
  config: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'> & Partial<Pick<ModelConfig, 'init' | 'representationRelu'>>,
  seed: number,
): tf.LayersModel {
  if (!(config.width > 0)) throw new Error(`encoder width multiplier must be > 0, got ${config.width}`);
  const rng = new Random(seed);
  const input = tf.input({ shape: [config.imageSize, config.imageSize, config.channels], name: 'image' });
  const build = { convnet4, resnet18 }[config.encoder];
  if (!build) throw new Error(`unknown encoder "${config.encoder}"; choose one of ${ENCODER_NAMES.join(', ')}`);
  const options = { init: config.init ?? 'torch', representationRelu: config.representationRelu ?? false };
  return tf.model({ inputs: input, outputs: build(input, config.width, rng, options), name: config.encoder });
}

/** Size of the representation h. */
export function representationDim(encoder: tf.LayersModel): number {
  const shape = encoder.outputs[0]!.shape;
  return shape[shape.length - 1]!;
}
