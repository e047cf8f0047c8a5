// MoCo v2 (He et al. 2020, arXiv:1911.05722; Chen, Fan, Girshick, He 2020, arXiv:2003.04297): each view's query must
// find its positive key, the other view encoded by a key network that follows the query network as a moving average,
// among a queue of K keys kept from earlier steps, so the number of negatives no longer depends on the batch.
//
// Choices, each as MoCo's authors made them where they made one:
// - The query network is the encoder and MoCo v2's 2-layer MLP head (dense → ReLU → dense, no batch norm); the key
//   network is a copy that follows it by m·key + (1 − m)·query, every weight and batch-norm statistic included, with m
//   rising from its base to 1 on a cosine as BYOL's target does (the key network is never trained).
// - The loss is symmetrised, as in the authors' CIFAR-10 demo (moco_cifar10_demo.ipynb) and solo-learn's MoCo v2+:
//   q1 against k2 and q2 against k1 over the same queue, averaged, and both views' keys are enqueued. A step then uses
//   both views as queries, as SimCLR's step does, which keeps the comparison with SimCLR at equal steps fair.
// - Shuffled batch norm on one device as the demo does it: the batch is split into groups with batch-norm statistics of
//   their own (SplitBatchNorm) in both networks, and the keys' batch is shuffled before the key network and unshuffled
//   after, so a query and its positive key are normalised with statistics of different images: the encoder cannot find
//   its positive from the batch's statistics (the "cheating" of section 3.3).
// - The queue starts as K random unit vectors and is used whole from the first step (the authors' code: queue =
//   normalize(randn(dim, K))); each step replaces the oldest 2N keys.
// - K may not exceed the folder's image count: with more, the queue would hold each image's own keys from its previous
//   pass, so its earlier self would be among its negatives. Validation refuses more and says so; the page's default fits.
import type * as tfjs from '@tensorflow/tfjs';
import { targetMomentum } from './byol';
import { defineMethod, type EngineKit, type MethodBuffer } from './method';

export const DEFAULT_QUEUE_SIZE = 4096;

/** ln(K + 1): the loss when the positive key is no more similar to its query than the queue's K keys are. */
export function mocoNoLearningLoss(queueSize: number): number {
  return Math.log(queueSize + 1);
}

/** mulberry32: a small seeded generator, so that the key shuffle of a step is the same on every backend and on resume. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The permutations of the two views' keys at `step` of a run seeded `seed` (Fisher–Yates): a function of the two only,
 * so a resumed run shuffles as the uninterrupted one would, with no state to save.
 */
export function keyShuffles(seed: number, step: number, n: number): [number[], number[]] {
  const next = generator(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step, 0xc2b2ae35));
  const one = () => {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  };
  return [one(), one()];
}

/**
 * What shuffled batch norm stops (section 3.3 of the MoCo paper), for the messages that say why it must stay on: with one
 * group, a query and its key are normalised with the same images' statistics.
 */
const BATCH_NORM_SHORTCUT =
  'a query and its positive key are normalised with statistics of the same images, and the encoder can find its key from those batch statistics instead of from what the image shows, learning little (positive accuracy nears 100 % while kNN stays flat)';

/**
 * The sizes of the batch-norm groups a batch of n is split into: as even as can be, each of at least 2 images.
 * Validation refuses a batch too small for the groups asked for (the `batchNeed` below), so fewer groups than asked
 * only happen to a run saved before it did.
 */
export function groupSizes(n: number, groups: number): number[] {
  const g = Math.max(1, Math.min(groups, Math.floor(n / 2)));
  return Array.from({ length: g }, (_, i) => Math.floor(n / g) + (i < n % g ? 1 : 0));
}

export interface InfoNceParts {
  /** Mean over the queries of −log softmax of the positive among [positive, K queue keys]. */
  loss: tfjs.Scalar;
  /** How often the positive key is more similar to its query than every key of the queue. */
  positiveAcc: tfjs.Scalar;
}

/**
 * MoCo's InfoNCE (eq. 1): q [n, d] the queries (not yet normalised), k [n, d] their positive keys, queue [K, d] unit
 * negatives. Logits [q·k⁺, q·queue] / τ, the positive in column 0.
 */
export function infoNce({ tf, l2Normalize }: Pick<EngineKit, 'tf' | 'l2Normalize'>, q: tfjs.Tensor2D, k: tfjs.Tensor2D, queue: tfjs.Tensor2D, temperature: number): InfoNceParts {
  return tf.tidy(() => {
    const qn = l2Normalize(q);
    const positive = tf.sum(tf.mul(qn, k), -1, true);
    const negatives = tf.matMul(qn, queue, false, true);
    const logits = tf.div(tf.concat([positive, negatives], 1), temperature);
    const loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.squeeze(positive, [1]).div(temperature))) as tfjs.Scalar;
    const positiveAcc = tf.mean(tf.cast(tf.greaterEqual(tf.squeeze(positive, [1]), tf.max(negatives, 1)), 'float32')) as tfjs.Scalar;
    return { loss, positiveAcc };
  });
}

/** A buffer backed by a non-trainable variable. */
function variableBuffer(tf: EngineKit['tf'], initial: tfjs.Tensor): MethodBuffer & { variable: tfjs.Variable } {
  const variable = tf.variable(initial, false);
  initial.dispose();
  return {
    variable,
    shape: variable.shape.slice(),
    trainable: false,
    read: () => variable,
    write: (value) => variable.assign(value),
  };
}

export const moco = defineMethod({
  name: 'moco',
  label: 'MoCo v2',
  summary: 'Contrastive with a memory: each view must find its key among thousands kept from earlier batches by a slowly moving key network, so small batches still see many negatives.',
  reference: 'He, Fan, Wu, Xie, Girshick. Momentum Contrast for Unsupervised Visual Representation Learning. CVPR 2020; Chen, Fan, Girshick, He. Improved Baselines with Momentum Contrastive Learning. arXiv:2003.04297.',
  settings: {
    temperature: {
      label: 'Temperature',
      // MoCo v2 (Chen et al. 2020, table 1): 0.2 with the MLP head.
      help: 'τ of InfoNCE over the positive key and the queue: 0.2 in MoCo v2, 0.07 in v1.',
      default: 0.2,
      min: 0.01,
      max: 10,
    },
    queueSize: {
      label: 'Queue size',
      // 65,536 on ImageNet; 4,096 in the authors' CIFAR-10 demo.
      help: 'K, the keys kept as negatives: 4,096 in the authors’ CIFAR-10 demo, 65,536 on ImageNet; never more than the folder’s images.',
      default: DEFAULT_QUEUE_SIZE,
      min: 16,
      max: 65536,
      integer: true,
    },
    keyMomentum: {
      label: 'Key momentum',
      // 0.999 for ImageNet's 200 epochs (section 3.1); 0.99 in the CIFAR-10 demo; a short run needs keys that follow faster.
      help: 'How slowly the key network follows the query network, rising to 1 by the end: 0.99 for short runs, 0.999 in the paper.',
      default: 0.99,
      min: 0,
      max: 0.9999,
    },
    bnGroups: {
      label: 'Shuffled BN groups',
      // The CIFAR-10 demo's SplitBatchNorm uses 8 groups of 64; a tab's batch of 16 affords 2 groups of 8.
      help: 'Batch-norm groups of the shuffled batch norm, each of at least 2 images (a batch of 2 per group or more): 2 or more keeps the encoder from finding its key by batch statistics; 1 turns it off.',
      default: 2,
      min: 1,
      max: 64,
      integer: true,
    },
  },
  lossLabel: 'InfoNCE',
  lossDescription: 'Dashed: ln(K + 1), the loss when the positive key is no closer to its query than the queue’s K keys.',
  lossBounds: { min: 0 },
  diagnostics: [
    {
      key: 'positiveAcc',
      label: 'Positive accuracy',
      description: 'How often a query’s own key is more similar to it than all K keys of the queue. Dashed: chance, 1 / (K + 1). Near 100 % within a few steps while kNN stays flat means the encoder finds its key by batch statistics: keep 2 or more shuffled BN groups.',
      format: 'fraction',
      references: ({ settings }) => [{ value: 1 / ((settings?.queueSize ?? DEFAULT_QUEUE_SIZE) + 1), label: 'chance' }],
    },
    {
      key: 'queueAge',
      label: 'Queue age (steps)',
      description: 'Steps since the queue’s oldest key was encoded. Dashed: a full turn, K / 2N steps. Keys much older than the key network’s memory, about 1 / (1 − m) steps, come from an encoder that no longer exists: shorten the queue or raise the momentum.',
      format: 'number',
      references: ({ batchSize, settings }) => [{ value: Math.ceil((settings?.queueSize ?? DEFAULT_QUEUE_SIZE) / (2 * batchSize)), label: 'full turn, K / 2N' }],
    },
  ],
  levels: ({ settings }) => {
    const k = settings?.queueSize ?? DEFAULT_QUEUE_SIZE;
    const level = mocoNoLearningLoss(k);
    const label = `ln ${k + 1} = ${level.toFixed(2)}`;
    return {
      loss: [{ value: level, label: `no learning (${label})` }],
      collapsed: { loss: level, tolerance: 0.02 * level, label },
      noLearning: { loss: level, label, meaning: 'the encoder cannot yet tell a view’s own key from the queue’s' },
      // The batch does not enter: each query is judged against its key and the queue's K keys.
      condition: `with a queue of ${k.toLocaleString('en')} keys`,
    };
  },
  advice: {
    collapsed: 'keep the shuffled batch norm on (2 or more groups) and a temperature of 0.1–0.2, and check the augmentations: MoCo’s two views must differ in crop and colour',
    stuck:
      'a lower key momentum (0.9–0.99) so that the keys keep up with a short run, a smaller queue if its age is far beyond 1 / (1 − momentum) steps, or milder augmentations',
  },
  dataLimits: ({ datasetSize }) => ({
    queueSize: {
      max: datasetSize,
      why: `the folder has ${datasetSize} images: a longer queue would hold an image’s own keys from its previous pass as its negatives`,
    },
  }),
  batchNeed: ({ bnGroups }) =>
    bnGroups < 2
      ? null
      : {
          key: 'bnGroups',
          smallestBatch: 2 * bnGroups,
          why: (batchSize) => {
            const fit = Math.floor(batchSize / 2);
            const lead = `${bnGroups} shuffled batch-norm groups need a batch of at least ${2 * bnGroups} (2 images a group), and the batch is ${batchSize}`;
            return fit >= 2
              ? `${lead}: it makes at most ${fit} groups. Raise the batch size to ${2 * bnGroups}, or use at most ${fit} groups.`
              : `${lead}: no two groups can be formed, so ${BATCH_NORM_SHORTCUT}. Raise the batch size to ${2 * bnGroups}.`;
          },
        },
  cautions: ({ bnGroups }) =>
    bnGroups < 2
      ? [{ key: 'bnGroups', message: `1 group turns the shuffled batch norm off: ${BATCH_NORM_SHORTCUT}. Use 2 or more groups (a batch of at least 4).` }]
      : [],
  build(kit, { temperature, queueSize, keyMomentum, bnGroups }, { model, encoder, representationDim, seed }) {
    const { tf } = kit;
    const d = model.projectionDim;
    // MoCo v2's head: Linear(dim_mlp, dim_mlp) → ReLU → Linear(dim_mlp, 128), as wide as h (or the output, if wider).
    const head = (name: string) =>
      kit.mlp({
        name,
        layerPrefix: 'head',
        inputDim: representationDim,
        hidden: Array<number>(model.headLayers - 1).fill(model.headHidden === 'atLeastProjection' ? Math.max(representationDim, d) : representationDim),
        outputDim: d,
        outputBatchNorm: false,
        hiddenBatchNorm: false,
        init: model.init,
        seed: seed + 1,
      });
    const queryHead = head('projection_head');
    // Built from the same seeds, the key network starts as an exact copy of the query network.
    const keyEncoder = kit.encoder(model, seed);
    const keyHead = head('key_projection_head');
    const pairs = (online: tfjs.LayersModel, follower: tfjs.LayersModel) => {
      const byName = new Map(follower.weights.map((w) => [w.originalName, w]));
      return online.weights.map((w) => [w, byName.get(w.originalName)!] as const);
    };
    // The queue: K random unit keys to start (the authors' code), the step each was enqueued at (0: the random start),
    // and where the next keys go.
    const keys = variableBuffer(tf, tf.tidy(() => kit.l2Normalize(tf.randomNormal([queueSize, d], 0, 1, 'float32', seed + 4))));
    const writtenAt = variableBuffer(tf, tf.zeros([queueSize]));
    const pointer = variableBuffer(tf, tf.zeros([1]));
    // Both views' normalised keys of the step whose update comes next: enqueued after it (the keys of a step that is
    // skipped are dropped by the next objective).
    let pending: tfjs.Tensor2D | null = null;
    // Each view's batch-norm groups are cut in one split straight from the tensor they come from (the two views' batch,
    // or a view's shuffled copy), not as slices of slices (see compilePipelines in step.ts for the WebGL pitfall).
    const groupsOf = (x: tfjs.Tensor4D, views: number): tfjs.Tensor4D[] => {
      const sizes = groupSizes(x.shape[0] / views, bnGroups);
      const all = Array.from({ length: views }, () => sizes).flat();
      return all.length === 1 ? [x] : (tf.split(x, all, 0) as tfjs.Tensor4D[]);
    };
    const through = (net: (x: tfjs.Tensor4D) => tfjs.Tensor2D, parts: tfjs.Tensor4D[]) => (parts.length === 1 ? net(parts[0]!) : tf.concat(parts.map(net), 0));
    const query = (x: tfjs.Tensor4D) => queryHead.apply(encoder.apply(x, { training: true }), { training: true }) as tfjs.Tensor2D;
    const key = (x: tfjs.Tensor4D) => keyHead.apply(keyEncoder.apply(x, { training: true }), { training: true }) as tfjs.Tensor2D;
    return {
      heads: { projection_head: queryHead },
      followers: { key_encoder: keyEncoder, key_projection_head: keyHead },
      buffers: { 'queue/keys': keys, 'queue/written_at': writtenAt, 'queue/pointer': pointer },
      objective({ encoder: online, views, step }) {
        if (online !== encoder) throw new Error('MoCo was built for another encoder');
        const n = views.shape[0] / 2;
        // The queries: each view on its own, in its batch-norm groups (view 1's groups, then view 2's).
        const parts = groupsOf(views, 2);
        const half = parts.length / 2;
        const q1 = through(query, parts.slice(0, half));
        const q2 = through(query, parts.slice(half));
        // The keys: each view's batch shuffled, through the key network in groups, unshuffled (the key network's variables
        // are not among those the step differentiates).
        const [perm1, perm2] = keyShuffles(seed, step, n);
        const shuffledKeys = (offset: number, perm: number[]) => {
          const inverse = new Array<number>(n);
          perm.forEach((p, i) => (inverse[p] = i));
          const shuffled = tf.gather(views, tf.tensor1d(perm.map((p) => p + offset), 'int32')) as unknown as tfjs.Tensor4D;
          const k = through(key, groupsOf(shuffled, 1));
          return kit.l2Normalize(tf.gather(k, tf.tensor1d(inverse, 'int32')) as tfjs.Tensor2D);
        };
        const k1 = shuffledKeys(0, perm1);
        const k2 = shuffledKeys(n, perm2);
        const queue = keys.read() as tfjs.Tensor2D;
        const a = infoNce(kit, q1, k2, queue, temperature);
        const b = infoNce(kit, q2, k1, queue, temperature);
        pending?.dispose();
        pending = tf.keep(tf.concat([k1, k2], 0));
        return {
          loss: tf.mul(tf.add(a.loss, b.loss), 0.5) as tfjs.Scalar,
          projections: tf.concat([q1, q2], 0),
          diagnostics: {
            positiveAcc: tf.mul(tf.add(a.positiveAcc, b.positiveAcc), 0.5) as tfjs.Scalar,
            queueAge: tf.sub(step, tf.min(writtenAt.read())) as tfjs.Scalar,
          },
        };
      },
      afterUpdate(step, totalSteps) {
        const m = targetMomentum(keyMomentum, step, totalSteps);
        tf.tidy(() => {
          // Every weight, batch-norm statistics included, moves towards the query network's.
          for (const [online, follower] of [...pairs(encoder, keyEncoder), ...pairs(queryHead, keyHead)]) {
            follower.write(tf.add(tf.mul(follower.read(), m), tf.mul(online.read(), 1 - m)));
          }
          if (!pending) return;
          // Enqueue and dequeue at once on the device: the 2N new keys replace the oldest, from the pointer on, wrapping.
          const fresh = pending.shape[0] > queueSize ? pending.slice([pending.shape[0] - queueSize, 0], [queueSize, -1]) : pending;
          const count = fresh.shape[0];
          const ptr = pointer.read();
          const slots = tf.cast(tf.mod(tf.add(ptr, tf.range(0, count, 1, 'float32')), queueSize), 'int32') as tfjs.Tensor1D;
          const placed = tf.oneHot(slots, queueSize).toFloat() as tfjs.Tensor2D;
          const covered = tf.sum(placed, 0);
          const kept = tf.sub(1, covered);
          keys.write(tf.add(tf.mul(keys.read(), kept.expandDims(1)), tf.matMul(placed, fresh, true, false)));
          writtenAt.write(tf.add(tf.mul(writtenAt.read(), kept), tf.mul(covered, step)));
          pointer.write(tf.mod(tf.add(ptr, count), queueSize));
        });
        pending?.dispose();
        pending = null;
      },
      dispose() {
        pending?.dispose();
        pending = null;
        for (const b of [keys, writtenAt, pointer]) b.variable.dispose();
      },
    };
  },
});
