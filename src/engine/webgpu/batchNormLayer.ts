// tfjs-layers' BatchNormalization, training on WebGPU through the fused kernels of batchNorm.ts; everywhere else
// (inference, the CPU and WebGL backends, the flag off) exactly the tfjs layer. It keeps the class name
// 'BatchNormalization', its config and its weights, so saved models are the same files and load into plain tfjs;
// registered under that name, models loaded in this process train fused too.
//
// A layer told at construction that a ReLU layer follows it and takes nothing else of it (`rectifies`: convBnRelu in
// layers.ts) trains as relu(batch norm) in the same programs, and marks its output as rectified so that the ReLU layer
// passes it through (ReLU is idempotent) without a dispatch of its own: two dispatches a layer fewer. The flag is not
// in the config: saved models, exports and checkpoints are the same; a layer loaded from a file trains unfused.
import * as tf from '@tensorflow/tfjs';
import { fusedBatchNormTraining, type MovingStatistic } from './batchNorm';
import { rectifiedOutputs } from './reluLayer';

type BatchNormalizationLayer = ReturnType<typeof tf.layers.batchNormalization>;
type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type Kwargs = Parameters<BatchNormalizationLayer['call']>[1];

/** The layer's own fields (private in tfjs-layers' declarations). */
interface BatchNormalizationInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor };
  beta: { read(): tf.Tensor };
  movingMean: MovingStatistic;
  movingVariance: MovingStatistic;
}

const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as new (args?: BatchNormalizationArgs) => BatchNormalizationLayer;

export class FusedBatchNormalization extends BatchNormalizationBase {
  static className = 'BatchNormalization';

  /** Whether a ReLU layer follows, the only one to read the output (set by who builds the model, never saved). */
  rectifies = false;

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    // The fused op makes its temporaries inside tf.customGrad's own scope, so it needs no tidy here.
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const self = this as unknown as BatchNormalizationInternals;
    const lastAxis = self.axis === -1 || self.axis === input.rank - 1;
    if (kwargs?.['training'] === true && lastAxis && self.center && self.scale) {
      const fused = fusedBatchNormTraining(
        input,
        self.gamma.read(),
        self.beta.read(),
        { epsilon: self.epsilon, momentum: self.momentum, movingMean: self.movingMean, movingVariance: self.movingVariance },
        this.rectifies,
      );
      if (fused && this.rectifies) rectifiedOutputs.add(fused);
      if (fused) return fused;
    }
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(FusedBatchNormalization as unknown as tf.serialization.SerializableConstructor<FusedBatchNormalization>);
