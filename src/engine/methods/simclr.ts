// SimCLR (Chen et al. 2020): the two views of each image are told apart from the other 2N − 2 views of the batch with
// NT-Xent (eq. 1; google-research/simclr objective.py) on the projection z = g(h).
import type * as tfjs from '@tensorflow/tfjs';
import { defineMethod, type EngineKit } from './method';

/**
 * The reference code masks self-similarity by subtracting this constant from the logits (LARGE_NUM in
 * objective.py) rather than using -Infinity, which shader maths may assume never occurs.
 */
export const SELF_MASK = 1e9;

/**
 * ln(2N − 1): the loss when every view is as similar to an anchor as its positive is, i.e. an encoder that tells nothing
 * apart. A run stuck here has learnt nothing; a collapsed run (every embedding the same point) lands here too.
 */
export function noLearningLoss(batchSize: number): number {
  return Math.log(2 * batchSize - 1);
}

export interface NtXentParts {
  /** Mean over all 2N anchors of −log softmax(positive): both directions averaged. */
  loss: tfjs.Scalar;
  /** How often the positive is the most similar of the 2N − 1 other views (the reference code's training metric). */
  contrastiveAcc: tfjs.Scalar;
}

/**
 * The loss with its diagnostic from one pass. Row i of z1 and row i of z2 are the two views of image i; neither needs
 * to be normalised. Each anchor sees 1 positive and 2N − 2 negatives.
 */
export function ntXentParts({ tf, l2Normalize }: Pick<EngineKit, 'tf' | 'l2Normalize'>, z1: tfjs.Tensor2D, z2: tfjs.Tensor2D, temperature: number): NtXentParts {
  if (z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) {
    throw new Error(`ntXent: views differ in shape: [${z1.shape}] vs [${z2.shape}]`);
  }
  if (!(temperature > 0)) throw new Error(`ntXent: temperature must be > 0, got ${temperature}`);
  const n = z1.shape[0];
  return tf.tidy(() => {
    const z = l2Normalize(tf.concat([z1, z2], 0));
    const logits = tf.sub(tf.div(tf.matMul(z, z, false, true), temperature), tf.mul(tf.eye(2 * n), SELF_MASK));
    // The positive of anchor i is its other view: i + N for the first half, i − N for the second.
    const positives = tf.tensor1d(Array.from({ length: 2 * n }, (_, i) => (i + n) % (2 * n)), 'int32');
    const logProb = tf.sub(logits, tf.logSumExp(logits, 1, true));
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(logProb, tf.oneHot(positives, 2 * n)), 1))) as tfjs.Scalar;
    const contrastiveAcc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), positives), 'float32')) as tfjs.Scalar;
    return { loss, contrastiveAcc };
  });
}

export const simclr = defineMethod({
  name: 'simclr',
  label: 'SimCLR',
  summary: 'Contrastive: each image’s two views must find each other among the whole batch. Learns best with large batches.',
  reference: 'Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of Visual Representations. ICML 2020.',
  settings: {
    temperature: {
      label: 'Temperature',
      // 0.2: the authors' advice for small batches, and the recipe's best of 0.1 / 0.2 / 0.5.
      help: 'τ of NT-Xent: lower sharpens the softmax over the batch. 0.1–0.5; 0.2 suits small batches.',
      default: 0.2,
      min: 0.01,
      max: 10,
    },
  },
  lossLabel: 'NT-Xent',
  lossDescription: 'Dashed: ln(2N − 1), the loss of an encoder that tells nothing apart.',
  lossBounds: { min: 0 },
  diagnostics: [
    {
      key: 'contrastiveAcc',
      label: 'Contrastive accuracy',
      description: 'How often the other view of an image is the most similar of the batch’s 2N − 1 views. Dashed: chance, 1 / (2N − 1).',
      format: 'fraction',
      references: ({ batchSize }) => [{ value: 1 / (2 * batchSize - 1), label: 'chance' }],
    },
  ],
  levels: ({ batchSize }) => {
    const level = noLearningLoss(batchSize);
    const label = `ln ${2 * batchSize - 1} = ${level.toFixed(2)}`;
    return {
      loss: [{ value: level, label: `no learning (${label})` }],
      // A collapse is loss at ln(2N − 1) with the embeddings squeezed together: within 2 % of the level.
      collapsed: { loss: level, tolerance: 0.02 * level, label },
      noLearning: { loss: level, label, meaning: 'the encoder cannot yet tell the two views of an image from the others' },
      condition: `at batch ${batchSize}`,
    };
  },
  advice: {
    collapsed: 'a higher temperature (0.2–0.5), and check the augmentations: too weak makes the two views trivially alike, too strong leaves nothing in common',
    stuck:
      'milder augmentations (a larger minimum crop area, weaker colour jitter), or check the data set for near-duplicates; if the curve has only just begun to bend, train longer',
  },
  build(kit, { temperature }, { model, representationDim, seed }) {
    const head = kit.mlp({
      name: 'projection_head',
      layerPrefix: 'head',
      inputDim: representationDim,
      // SimCLR's hidden layers are as wide as h (google-research/simclr model_util.py); model.headHidden
      // 'atLeastProjection' keeps a narrow h (convnet4 at width 0.25: 64) from squeezing the head below its output.
      hidden: Array<number>(model.headLayers - 1).fill(
        model.headHidden === 'atLeastProjection' ? Math.max(representationDim, model.projectionDim) : representationDim,
      ),
      init: model.init,
      outputDim: model.projectionDim,
      outputBatchNorm: true,
      seed: seed + 1,
    });
    return {
      heads: { projection_head: head },
      followers: {},
      objective({ encoder, views }) {
        const n = views.shape[0] / 2;
        // Both views through the encoder as one batch of 2N, so batch norm sees both (the reference's global BN).
        const h = encoder.apply(views, { training: true }) as tfjs.Tensor2D;
        const z = head.apply(h, { training: true }) as tfjs.Tensor2D;
        const parts = kit.fusedNtXent(z, temperature) ?? ntXentParts(kit, z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1]), temperature);
        return { loss: parts.loss, projections: z, diagnostics: { contrastiveAcc: parts.contrastiveAcc } };
      },
    };
  },
});
