// Pins SimCLR's training curve bit for bit on the CPU backend, for the model saved configs describe and for the one new
// runs get: a refactor of the engine (the method seam, fused kernels) must not change what a seed trains. A change that means to change it (a new default initialisation, say)
// updates the snapshot in a commit of its own that says why (`npx vitest run src/engine/curve.test.ts -u`).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig } from './config';
import { selfTestConfig } from './selftest';
import { createTrainState, disposeTrainState, trainStep } from './step';
import { syntheticImages } from './synthetic';

describe('the SimCLR curve', () => {
  // The model configs saved before the parity work (issue #13) describe: Keras initialisers, a ReLU on h, the head as
  // wide as h. Their curves are the ones recorded before the method seam, unchanged: a saved run trains on as it did.
  const saved = { init: 'keras', representationRelu: true, headHidden: 'representation' } as const;
  it.each([
    ['plain', 0, saved, 'plain'],
    ['with the entropy regulariser', 0.1, saved, 'entropy'],
    // What new runs get since the parity work: PyTorch's initialisation, no ReLU on h, the head at least as wide as z.
    ['plain, the model new runs get', 0, {}, 'plain-new-model'],
  ])('is what it was (%s): 12 steps of a seeded run, every metric bit for bit', async (_name, entropyWeight, model, snapshot) => {
    const config = selfTestConfig();
    config.model = { ...config.model, entropyWeight, ...model };
    // Every augmentation on (blur included), AdamW with decay and a warm-up, both batch-norm paths of the head.
    config.augment = { ...defaultTrainConfig(8, 3).augment, blurProb: 0.5 };
    config.optim = { ...config.optim, weightDecay: 1e-4, warmupSteps: 3, totalSteps: 12 };
    const { imageSize: s, channels: c } = config.model;
    const images = tf.tensor4d(syntheticImages(config.batchSize, s, c, 3), [config.batchSize, s, s, c], 'int32');
    const state = createTrainState(config);
    const curve: Record<string, number | boolean | null>[] = [];
    for (let i = 0; i < 12; i++) {
      const m = await trainStep(state, images);
      // The names the metrics had when the curve was recorded (before the method seam).
      curve.push({
        step: m.step,
        loss: m.loss,
        ntXent: m.methodLoss,
        contrastiveAcc: m.diagnostics.contrastiveAcc!,
        embeddingStd: m.embeddingStd,
        entropy: m.entropy,
        lr: m.lr,
        finite: m.finite,
        gradNorm: m.gradNorm,
        exploding: m.exploding,
      });
    }
    const weights = await Promise.all(state.params.slice(0, 3).map(async (p) => Array.from(await p.variable.data()).slice(0, 4)));
    images.dispose();
    disposeTrainState(state);
    await expect(JSON.stringify({ curve, weights }, null, 1)).toMatchFileSnapshot(`./__snapshots__/simclr-curve-${snapshot}.json`);
  });
});
