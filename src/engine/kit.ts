// The engine's tfjs and builders as a method receives them (src/engine/methods/method.ts: why methods do not import
// tfjs themselves).
import * as tf from '@tensorflow/tfjs';
import { createEncoder } from './encoders';
import { createMlp } from './head';
import type { EngineKit } from './methods/method';
import { l2Normalize } from './normalize';

/** tfjs has no stop-gradient op; a custom gradient of zeros is one. */
const detached = tf.customGrad((...inputs) => ({ value: tf.clone(inputs[0] as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }));

export const engineKit: EngineKit = {
  tf,
  mlp: createMlp,
  encoder: createEncoder,
  l2Normalize,
  stopGradient: <T extends tf.Tensor>(x: T) => detached(x) as T,
};
