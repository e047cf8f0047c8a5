import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig } from './config';
import { forwardFlops, stepFlops } from './flops';
import { countParams, createNetwork, disposeNetwork } from './model';

describe('FLOPs', () => {
  it('counts a convolution and a dense layer exactly', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: 5 }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: dense });
    // conv: 8·8·4 outputs × 3·3·3 multiply-adds; pooling: 8·8·4 adds; dense: 4 × 5 multiply-adds.
    expect(forwardFlops(model)).toBe(2 * 8 * 8 * 4 * 27 + 8 * 8 * 4 + 2 * 4 * 5);
    model.dispose();
  });

  it('makes a step about three forward passes of both views, and grows with the batch', () => {
    const config = defaultTrainConfig(16, 3);
    const model = createNetwork({ ...config, model: { ...config.model, width: 0.25 } });
    const params = countParams(model);
    const forward = forwardFlops(model.encoder) + forwardFlops(model.method.heads.projection_head!);
    const step8 = stepFlops(model, 8, config.model.projectionDim, params);
    expect(step8).toBeGreaterThan(3 * forward * 16);
    expect(step8).toBeLessThan(3.3 * forward * 16 + 20 * params);
    expect(stepFlops(model, 16, config.model.projectionDim, params)).toBeGreaterThan(1.9 * step8 - 20 * params);
    disposeNetwork(model);
  });
});
