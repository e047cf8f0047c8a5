// SimSiam (Chen & He 2021): each view's prediction p = h(z) must match the other view's projection z, which is held
// fixed (stop-gradient). No negatives, so no large batch is needed; the stop-gradient and the predictor are what keep it
// from collapsing.
import type * as tfjs from '@tensorflow/tfjs';
import { defineMethod, type EngineKit } from './method';

/** −cos(p, stopgrad(z)) per row, averaged: SimSiam's D (eq. 1). */
export function negativeCosine({ tf, l2Normalize, stopGradient }: Pick<EngineKit, 'tf' | 'l2Normalize' | 'stopGradient'>, p: tfjs.Tensor2D, z: tfjs.Tensor2D): tfjs.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(l2Normalize(p), l2Normalize(stopGradient(z))), -1))) as tfjs.Scalar;
}

/** Mean cosine between the two views' projections: how alike the encoder makes the views (no gradient flows here). */
export function viewCosine({ tf, l2Normalize }: Pick<EngineKit, 'tf' | 'l2Normalize'>, z1: tfjs.Tensor2D, z2: tfjs.Tensor2D): tfjs.Scalar {
  return tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), -1)) as tfjs.Scalar;
}

export const simsiam = defineMethod({
  name: 'simsiam',
  label: 'SimSiam',
  summary: 'Non-contrastive: each view predicts the other’s projection, no negatives needed, so it suits the small batches a tab can hold.',
  reference: 'Chen, He. Exploring Simple Siamese Representation Learning. CVPR 2021.',
  settings: {
    predictorRatio: {
      label: 'Predictor bottleneck',
      // The paper's predictor is 2048 → 512 → 2048: a quarter (section 4.4, table 1).
      help: 'Width of the predictor’s hidden layer as a fraction of the projection: the paper’s bottleneck is 1/4.',
      default: 0.25,
      min: 0.05,
      max: 4,
    },
  },
  lossLabel: 'negative cosine',
  lossDescription: 'It falls towards −1 as the views agree; −1 with the embedding spread near 0 is a collapse.',
  lossBounds: { min: -1, max: 1 },
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
    loss: [{ value: -1, label: 'every prediction exact (−1)' }],
    // A collapsed SimSiam maps everything to one vector, which the predictor then matches exactly.
    collapsed: { loss: -1, tolerance: 0.02, label: '−1' },
    noLearning: null,
  }),
  advice: {
    collapsed:
      'a smaller weight decay or a larger predictor bottleneck; SimSiam needs its predictor and the batch norm in its projection to stay apart from a constant, so keep both',
    stuck: null,
  },
  build(kit, { predictorRatio }, { model, representationDim, seed }) {
    const { tf } = kit;
    const d = model.projectionDim;
    // The projector ends in batch norm (the paper's "BN is applied to each fully-connected layer, including its output").
    const projector = kit.mlp({
      name: 'projection_head',
      layerPrefix: 'head',
      inputDim: representationDim,
      hidden: Array<number>(model.headLayers - 1).fill(d),
      outputDim: d,
      outputBatchNorm: true,
      seed: seed + 1,
    });
    const predictor = kit.mlp({
      name: 'predictor',
      layerPrefix: 'pred',
      inputDim: d,
      hidden: [Math.max(2, Math.round(predictorRatio * d))],
      outputDim: d,
      outputBatchNorm: false,
      seed: seed + 3,
    });
    return {
      heads: { projection_head: projector, predictor },
      followers: {},
      objective({ encoder, view1, view2 }) {
        const n = view1.shape[0];
        const h = encoder.apply(tf.concat([view1, view2], 0), { training: true }) as tfjs.Tensor2D;
        const z = projector.apply(h, { training: true }) as tfjs.Tensor2D;
        const p = predictor.apply(z, { training: true }) as tfjs.Tensor2D;
        const [z1, z2] = [z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1])];
        const [p1, p2] = [p.slice([0, 0], [n, -1]), p.slice([n, 0], [n, -1])];
        // Symmetrised (eq. 2): D(p1, z2) / 2 + D(p2, z1) / 2.
        const loss = tf.mul(tf.add(negativeCosine(kit, p1, z2), negativeCosine(kit, p2, z1)), 0.5) as tfjs.Scalar;
        return { loss, projections: z, diagnostics: { viewCosine: viewCosine(kit, z1, z2) } };
      },
    };
  },
});
