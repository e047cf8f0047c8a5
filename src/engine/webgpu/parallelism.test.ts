// How parallel the fused reductions are, from the programs' own shape arithmetic (batchNormParallelism,
// optimizerParallelism): at the batches and image sizes of real runs, no dispatch of them makes a few invocations
// run long dependent loops. The Dawn tests (batchNorm.test.ts, packedOptimizer.test.ts) check that the programs
// dispatch what these functions say.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type EncoderName } from '../config';
import { trainedWeightShapes } from '../memory';
import { createNetwork, disposeNetwork } from '../model';
import { batchNormParallelism } from './batchNorm';
import { bufferLimitBytes, DEFAULT_BUFFER_LIMITS, type ProgramParallelism } from './limits';
import { optimizerParallelism } from './packing';

/** Too serial: more than 4,096 dependent iterations in one invocation of a dispatch of fewer than 8,192. */
const tooSerial = (p: ProgramParallelism) => p.serialLoop > 4096 && p.invocations < 8192;

/** The input shape of every batch norm of the network at this batch (both views) and image size. */
function batchNormShapes(encoder: EncoderName, batch: number, imageSize: number): number[][] {
  const config = defaultTrainConfig(imageSize, 3);
  config.model.encoder = encoder;
  const network = createNetwork(config);
  const models = [network.encoder, ...Object.values(network.method.heads)];
  const shapes = models.flatMap((m) =>
    m.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => [2 * batch, ...((l.input as tf.SymbolicTensor).shape.slice(1) as number[])]),
  );
  disposeNetwork(network);
  return shapes;
}

const RUNS: [EncoderName, number, number][] = [
  ['convnet4', 256, 32],
  ['resnet18', 256, 32],
  ['convnet4', 512, 96],
  ['resnet18', 512, 96],
];

describe('parallelism of the fused reductions', () => {
  for (const [encoder, batch, imageSize] of RUNS) {
    it(`${encoder}, batch ${batch} of ${imageSize} px: batch norm and the optimiser`, async () => {
      await tf.setBackend('cpu');
      const programs = batchNormShapes(encoder, batch, imageSize).flatMap((shape) => batchNormParallelism(shape));
      const config = defaultTrainConfig(imageSize, 3);
      config.model.encoder = encoder;
      const sizes = trainedWeightShapes(config).map((s) => s.reduce((a, b) => a * b, 1));
      for (const optimizer of ['adam', 'sgd', 'lars'] as const) {
        for (const limit of [bufferLimitBytes(DEFAULT_BUFFER_LIMITS), 2 ** 31]) programs.push(...optimizerParallelism(sizes, optimizer, limit));
      }
      expect(programs.filter(tooSerial)).toEqual([]);
      // Tighter than that: every second stage adds about √(its items) numbers, here at most 384 (ResNet-18's batch
      // norm after the stem at 512 × 96 px: 147,456 chunks in groups of 384), where one invocation per channel used
      // to add all 147,456, and the optimiser's global row its 44,000 chunks.
      expect(Math.max(...programs.map((p) => p.serialLoop))).toBeLessThanOrEqual(384);
    });
  }
});
