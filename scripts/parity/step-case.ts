// Step-level parity, tabclr's half: one small deterministic case (a convnet4 and its head from a seed, two augmented
// views of synthetic images), and what tabclr's engine computes from it: the forward pass (h and z of the 2N views in
// training mode), the loss, every parameter's gradient, the weights and batch-norm statistics after one AdamW update,
// and 50 steps on the same views. scripts/parity/step_parity.py computes the same in PyTorch from the same weights and
// views, compares, and writes the fixture src/engine/parity.test.ts pins the engine to. What every case shares (the
// views, the state, writing the case) is in scripts/lib/parity/stepCase.ts.
//
//   npx tsx scripts/parity/step-case.ts --out DIR [--model '{"representationRelu":false}']
//   /usr/bin/python3 scripts/parity/step_parity.py --case DIR [--fixture src/engine/fixtures/step-parity.json]
import * as tf from '@tensorflow/tfjs';
import { defaultTrainConfig, type TrainConfig } from '../../src/engine/config';
import { withFrozenStatistics } from '../../src/engine/step';
import { b64, caseArguments, firstGradients, openCase, trainCase, writeCase } from '../lib/parity/stepCase';

export const PARITY_STEPS = 50;

/**
 * The case: 12 px so that the stride-2 'same' convolutions meet both an even side (12 → 6: one pixel of padding,
 * after) and an odd one (3 → 2: one before and one after); weight decay 0.1, far above the recipe's, so that
 * decoupled decay and its exclusions show in one update; warm-up then cosine over the 50 steps.
 */
export function parityConfig(modelOverrides: Partial<TrainConfig['model']> = {}): TrainConfig {
  const config = defaultTrainConfig(12, 1);
  Object.assign(config.model, { width: 0.125, projectionDim: 48 }, modelOverrides);
  config.batchSize = 4;
  config.method = { name: 'simclr', temperature: 0.2 };
  config.seed = 7;
  Object.assign(config.optim, { optimizer: 'adam', learningRate: 3e-3, weightDecay: 0.1, warmupSteps: 5, totalSteps: PARITY_STEPS });
  return config;
}

async function main(): Promise<void> {
  const { out, args } = caseArguments('step-case.ts --out DIR [--model JSON]');
  const overrides = args.includes('--model') ? (JSON.parse(args[args.indexOf('--model') + 1]!) as Partial<TrainConfig['model']>) : {};
  const c = await openCase(parityConfig(overrides));
  const { state, view1, view2 } = c;
  // h and z of both views in training mode (SimCLR's encoder and head see the 2N views as one batch).
  const forward = await withFrozenStatistics(state.model, async () => {
    const both = tf.concat([view1, view2], 0);
    const h = state.model.encoder.apply(both, { training: true }) as tf.Tensor2D;
    const z = state.model.method.heads.projection_head!.apply(h, { training: true }) as tf.Tensor2D;
    const result = { h: b64((await h.data()) as Float32Array), z: b64((await z.data()) as Float32Array), hShape: h.shape, zShape: z.shape };
    tf.dispose([both, h, z]);
    return result;
  });
  const { loss, grads } = await firstGradients(c);
  const { metrics, afterOne, final } = await trainCase(c, PARITY_STEPS);
  const losses = metrics.map((m) => m.methodLoss);
  await writeCase(out, c, PARITY_STEPS, { forward, loss, grads, afterOne, losses, final });
}

await main();
