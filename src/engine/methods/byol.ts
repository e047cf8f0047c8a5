// BYOL (Grill et al. 2020): the online network's prediction of one view must match the projection of the other view
// by a target network, a slowly moving average of the online one. No negatives; the moving target keeps it from
// collapsing.
import type * as tfjs from '@tensorflow/tfjs';
import { defineMethod, type EngineKit } from './method';

/** 2 − 2·cos(p, z) per row, averaged: BYOL's normalised squared error (eq. 2). The target z carries no gradient. */
export function normalisedSquaredError({ tf, l2Normalize }: Pick<EngineKit, 'tf' | 'l2Normalize'>, p: tfjs.Tensor2D, z: tfjs.Tensor2D): tfjs.Scalar {
  return tf.sub(2, tf.mul(2, tf.mean(tf.sum(tf.mul(l2Normalize(p), l2Normalize(z)), -1)))) as tfjs.Scalar;
}

/** Mean cosine between the two views' projections: how alike the encoder makes the views (no gradient flows here). */
export function viewCosine({ tf, l2Normalize }: Pick<EngineKit, 'tf' | 'l2Normalize'>, z1: tfjs.Tensor2D, z2: tfjs.Tensor2D): tfjs.Scalar {
  return tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), -1)) as tfjs.Scalar;
}

/** The target's moving-average rate at `step` of `total`: from the base up to 1 on a cosine (section 3.2). */
export function targetMomentum(base: number, step: number, total: number): number {
  return 1 - (1 - base) * (Math.cos((Math.PI * Math.min(step, total)) / Math.max(1, total)) + 1) / 2;
}

export const byol = defineMethod({
  name: 'byol',
  label: 'BYOL',
  summary: 'Non-contrastive: each view predicts a slowly moving target network’s projection of the other view; no negatives needed.',
  reference: 'Grill et al. Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning. NeurIPS 2020.',
  settings: {
    targetMomentum: {
      label: 'Target momentum',
      // 0.996 for ImageNet's long runs (section 3.2); a short run needs a target that moves faster.
      help: 'How slowly the target network follows the online one, rising to 1 by the end: 0.99 for short runs, 0.996 in the paper.',
      default: 0.99,
      min: 0,
      max: 0.9999,
    },
  },
  lossLabel: 'normalised squared error',
  lossDescription: 'It falls towards 0 as the predictions meet the targets; 0 with the embedding spread near 0 is a collapse.',
  lossBounds: { min: 0, max: 4 },
  diagnostics: [
    {
      key: 'viewCosine',
      label: 'View agreement',
      description: 'Mean cosine between the two views’ projections: it rises as the encoder learns to ignore the augmentations.',
      format: 'number',
      references: () => [{ value: 1, label: 'identical' }],
    },
  ],
  levels: () => ({
    loss: [{ value: 0, label: 'every prediction exact (0)' }],
    collapsed: { loss: 0, tolerance: 0.02, label: '0' },
    noLearning: null,
    condition: '',
  }),
  advice: {
    collapsed: 'a higher target momentum (0.99–0.996), so that the target moves more slowly than the network chasing it',
    stuck: null,
  },
  build(kit, { targetMomentum: base }, { model, encoder, representationDim, seed }) {
    const { tf } = kit;
    const d = model.projectionDim;
    // The paper's projector and predictor: Linear(4096) → BN → ReLU → Linear(256); here 4× the projection wide.
    const projector = (name: string) =>
      kit.mlp({ name, layerPrefix: 'head', inputDim: representationDim, hidden: Array<number>(model.headLayers - 1).fill(4 * d), outputDim: d, outputBatchNorm: false, seed: seed + 1 });
    const onlineProjector = projector('projection_head');
    const predictor = kit.mlp({ name: 'predictor', layerPrefix: 'pred', inputDim: d, hidden: [4 * d], outputDim: d, outputBatchNorm: false, seed: seed + 3 });
    // Built from the same seeds, the target starts as an exact copy of the online network.
    const targetEncoder = kit.encoder(model, seed);
    const targetProjector = projector('target_projection_head');
    // Paired by name: a model that is not trained lists its weights in another order.
    const pairs = (online: tfjs.LayersModel, target: tfjs.LayersModel) => {
      const byName = new Map(target.weights.map((w) => [w.originalName, w]));
      return online.weights.map((w) => [w, byName.get(w.originalName)!] as const);
    };
    return {
      heads: { projection_head: onlineProjector, predictor },
      followers: { target_encoder: targetEncoder, target_projection_head: targetProjector },
      objective({ encoder: online, views }) {
        const n = views.shape[0] / 2;
        const z = onlineProjector.apply(online.apply(views, { training: true }), { training: true }) as tfjs.Tensor2D;
        const p = predictor.apply(z, { training: true }) as tfjs.Tensor2D;
        // Not trained: the target's variables are not among those the step differentiates.
        const target = targetProjector.apply(targetEncoder.apply(views, { training: true }), { training: true }) as tfjs.Tensor2D;
        const [p1, p2] = [p.slice([0, 0], [n, -1]), p.slice([n, 0], [n, -1])];
        const [t1, t2] = [target.slice([0, 0], [n, -1]), target.slice([n, 0], [n, -1])];
        // Symmetrised: each view's prediction against the other view's target, averaged.
        const loss = tf.mul(tf.add(normalisedSquaredError(kit, p1, t2), normalisedSquaredError(kit, p2, t1)), 0.5) as tfjs.Scalar;
        return { loss, projections: z, diagnostics: { viewCosine: viewCosine(kit, z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1])) } };
      },
      afterUpdate(step, totalSteps) {
        const tau = targetMomentum(base, step, totalSteps);
        tf.tidy(() => {
          // Every weight, batch-norm statistics included, moves towards the online network's.
          for (const [online, target] of [...pairs(encoder, targetEncoder), ...pairs(onlineProjector, targetProjector)]) {
            target.write(tf.add(tf.mul(target.read(), tau), tf.mul(online.read(), 1 - tau)));
          }
        });
      },
    };
  },
});
