// Step-level parity for MoCo v2, tabclr's half: a small deterministic case (a convnet4, MoCo's query head, the key
// network as their copy, a queue of 12 random unit keys, two augmented views of synthetic images) and what tabclr's
// engine computes from it: the queries of the first step (training mode), the loss over the initial queue, every
// gradient, the query network after one AdamW update, the key network after its momentum update, the queue after the
// step's enqueue and dequeue (the step's keys are its first 2N rows), and STEPS steps on the same views, over which the
// queue of 12 wraps around (2N = 8 keys a step). scripts/parity/moco_parity.py computes the same in PyTorch. What every
// case shares (the views, the state, writing the case) is in scripts/lib/parity/stepCase.ts.
//
//   npx tsx scripts/parity/moco-case.ts --out DIR
//   /usr/bin/python3 scripts/parity/moco_parity.py --case DIR [--fixture src/engine/fixtures/moco-step-parity.json]
import * as tf from '@tensorflow/tfjs';
import { defaultTrainConfig, type TrainConfig } from '../../src/engine/config';
import { keyShuffles } from '../../src/engine/methods/moco';
import { withFrozenStatistics } from '../../src/engine/step';
import { b64, caseArguments, firstGradients, openCase, trainCase, writeCase } from '../lib/parity/stepCase';

export const MOCO_PARITY_STEPS = 6;

/**
 * The case: 12 px (both even and odd 'same' paddings), batch 4 in 2 shuffled batch-norm groups, a queue of 12 (not a
 * multiple of the 8 keys a step, so that enqueueing wraps), key momentum 0.9 (so that the key network visibly moves),
 * weight decay 0.1, warm-up then cosine over the steps.
 */
export function mocoParityConfig(): TrainConfig {
  const config = defaultTrainConfig(12, 1);
  Object.assign(config.model, { width: 0.125, projectionDim: 16 });
  config.batchSize = 4;
  config.method = { name: 'moco', temperature: 0.2, queueSize: 12, keyMomentum: 0.9, bnGroups: 2 };
  config.seed = 7;
  Object.assign(config.optim, { optimizer: 'adam', learningRate: 3e-3, weightDecay: 0.1, warmupSteps: 2, totalSteps: MOCO_PARITY_STEPS });
  return config;
}

async function main(): Promise<void> {
  const { out } = caseArguments('moco-case.ts --out DIR');
  const c = await openCase(mocoParityConfig());
  const { config, state, view1, view2 } = c;
  // The queries of step 1 in training mode, with every non-trainable weight (statistics, the queue) put back after.
  const queries = await withFrozenStatistics(state.model, async () => {
    const both = tf.concat([view1, view2], 0);
    const first = state.model.method.objective({ encoder: state.model.encoder, views: both, step: 1 });
    const result = { q: b64((await first.projections.data()) as Float32Array), shape: first.projections.shape };
    tf.dispose([both, first.loss, first.projections, ...Object.values(first.diagnostics)]);
    return result;
  });
  const { loss, grads } = await firstGradients(c);
  const { metrics, afterOne, final } = await trainCase(c, MOCO_PARITY_STEPS);
  await writeCase(
    out,
    c,
    MOCO_PARITY_STEPS,
    {
      queries, loss, grads, afterOne, final,
      losses: metrics.map((m) => m.methodLoss),
      positiveAcc: metrics.map((m) => m.diagnostics.positiveAcc!),
      queueAge: metrics.map((m) => m.diagnostics.queueAge!),
    },
    // The key shuffles of each step (a function of the seed and the step: src/engine/methods/moco.ts keyShuffles).
    { shuffles: Array.from({ length: MOCO_PARITY_STEPS }, (_, i) => keyShuffles(config.seed, i + 1, config.batchSize)) },
  );
}

await main();
