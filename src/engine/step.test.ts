import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, upgradeConfig, validateTrainConfig, type TrainConfig } from './config';
import { noLearningLoss } from './methods/simclr';
import { checkBackendAgreement, checkTraining, gradientDisagreement, selfTestConfig } from './selftest';
import { augmentPair } from './augment';
import { Random } from './random';
import { saveTrainState } from './savedState';
import { createTrainState, disposeTrainState, drawStepProgramsOnce, probeGradients, toUnitRange, trainStep } from './step';
import { syntheticImages } from './synthetic';

async function snapshotWeights(state: ReturnType<typeof createTrainState>): Promise<number[][]> {
  return Promise.all(state.params.map(async (p) => Array.from(await p.variable.data())));
}

function images(config: TrainConfig): tf.Tensor4D {
  const { imageSize: s, channels: c } = config.model;
  return tf.tensor4d(syntheticImages(config.batchSize, s, c, 5), [config.batchSize, s, s, c], 'int32');
}

describe('trainStep', () => {
  it('learns: a tiny model on a tiny synthetic set drives NT-Xent below ln(2N−1) and accuracy above chance', async () => {
    const report = await checkTraining(30);
    expect(report.finalLoss).toBeLessThan(report.firstLoss);
    expect(report.finalLoss).toBeLessThan(0.9 * report.noLearningLoss);
    expect(report.finalContrastiveAcc).toBeGreaterThan(2 * report.chance);
    expect(report.tensorsAfterLast).toBe(report.tensorsAfterStep2);
    expect(report.ok).toBe(true);
  });

  it('leaves no tensor behind: the count after step 2 equals the count after step 200', async () => {
    const config = selfTestConfig();
    config.model = { ...config.model, imageSize: 8, width: 1 / 16, projectionDim: 8 };
    config.augment = defaultTrainConfig(8, 3).augment; // every augmentation on, so every code path runs
    config.batchSize = 4;
    const state = createTrainState(config);
    const batch = images(config);
    let afterStep2 = 0;
    for (let i = 0; i < 200; i++) {
      await trainStep(state, batch);
      if (state.step === 2) afterStep2 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(afterStep2);
    batch.dispose();
    disposeTrainState(state);
  });

  it('reports the global gradient norm, and skips the update when it is above maxGradNorm', async () => {
    const config = selfTestConfig();
    const state = createTrainState(config);
    const batch = images(config);
    // The reported norm is √Σ‖g‖² of the gradients the step computes: the same draws give the same gradients.
    const probe = createTrainState(config);
    const [view1, view2] = tf.tidy(() => augmentPair(toUnitRange(batch), config.augment, new Random(config.seed ^ 0x5eed)));
    const { grads } = await probeGradients(probe, view1, view2);
    const expected = Math.sqrt([...grads.values()].reduce((sum, g) => sum + g.reduce((s, x) => s + x * x, 0), 0));
    tf.dispose([view1, view2]);
    disposeTrainState(probe);

    const before = await snapshotWeights(state);
    const skipped = await trainStep(state, batch, { maxGradNorm: expected / 2 });
    expect(skipped.gradNorm).toBeCloseTo(expected, 3);
    expect(skipped).toMatchObject({ finite: true, exploding: true, step: 1 });
    expect(await snapshotWeights(state)).toEqual(before);

    const taken = await trainStep(state, batch, { maxGradNorm: 1e6 });
    expect(taken).toMatchObject({ finite: true, exploding: false });
    expect(await snapshotWeights(state)).not.toEqual(before);
    batch.dispose();
    disposeTrainState(state);
  });

  it('reports the metrics a user needs, with the scheduled learning rate', async () => {
    const config = selfTestConfig();
    config.optim = { ...config.optim, warmupSteps: 4, totalSteps: 100, learningRate: 0.01 };
    const state = createTrainState(config);
    const batch = images(config);
    const m = await trainStep(state, batch);
    expect(m.step).toBe(1);
    expect(m.lr).toBeCloseTo(0.01 / 4, 10);
    expect(m.finite).toBe(true);
    expect(m.loss).toBe(m.methodLoss);
    expect(m.entropy).toBeNull();
    expect(m.loss).toBeGreaterThan(0);
    expect(m.loss).toBeLessThan(noLearningLoss(config.batchSize) * 1.5);
    expect(Object.keys(m.diagnostics)).toEqual(['contrastiveAcc']);
    expect(m.diagnostics.contrastiveAcc).toBeGreaterThanOrEqual(0);
    expect(m.diagnostics.contrastiveAcc).toBeLessThanOrEqual(1);
    expect(m.embeddingStd).toBeGreaterThan(0);
    batch.dispose();
    disposeTrainState(state);
  });

  it('with the entropy term, the objective is NT-Xent − λ·H and H is reported', async () => {
    const config = selfTestConfig();
    config.model = { ...config.model, entropyWeight: 0.5, entropyClusters: 4 };
    const state = createTrainState(config);
    const batch = images(config);
    const m = await trainStep(state, batch);
    expect(m.entropy).not.toBeNull();
    expect(m.entropy!).toBeGreaterThan(0);
    expect(m.entropy!).toBeLessThanOrEqual(Math.log(4) + 1e-5);
    expect(m.loss).toBeCloseTo(m.methodLoss - 0.5 * m.entropy!, 4);
    batch.dispose();
    disposeTrainState(state);
  });

  it('the same seed reproduces the same run; another seed does not', async () => {
    const run = async (seed: number) => {
      const config = { ...selfTestConfig(), seed };
      const state = createTrainState(config);
      const batch = images(config);
      const losses = [];
      for (let i = 0; i < 3; i++) losses.push((await trainStep(state, batch)).loss);
      batch.dispose();
      disposeTrainState(state);
      return losses;
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it('a non-finite loss skips the update and says so', async () => {
    const config = selfTestConfig();
    const state = createTrainState(config);
    const batch = tf.fill([config.batchSize, 8, 8, 3], NaN) as tf.Tensor4D;
    const before = await state.params[0]!.variable.data();
    const m = await trainStep(state, batch);
    expect(m.finite).toBe(false);
    expect(Array.from(await state.params[0]!.variable.data())).toEqual(Array.from(before));
    batch.dispose();
    disposeTrainState(state);
  });

  it.each([
    ['resnet18', 'adam'],
    ['convnet4', 'sgd'],
    ['convnet4', 'lars'],
  ] as const)('trains %s with %s: finite loss, weights move, no tensor left behind', async (encoder, optimizer) => {
    const config = selfTestConfig();
    config.model = { ...config.model, encoder, width: 1 / 16, headLayers: 3 };
    config.optim = { ...config.optim, optimizer, learningRate: optimizer === 'adam' ? 1e-3 : 0.1 };
    config.batchSize = 4;
    const state = createTrainState(config);
    const batch = images(config);
    const before = await state.params[0]!.variable.data();
    await trainStep(state, batch);
    const tensors = tf.memory().numTensors;
    const m = await trainStep(state, batch);
    expect(m.finite).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Array.from(await state.params[0]!.variable.data())).not.toEqual(Array.from(before));
    batch.dispose();
    disposeTrainState(state);
  });

  it('refuses a batch of the wrong size', async () => {
    const config = selfTestConfig();
    const state = createTrainState(config);
    await expect(trainStep(state, tf.zeros([3, 8, 8, 3]))).rejects.toThrow(/batch has 3 images/);
    disposeTrainState(state);
  });

  it('probeGradients changes nothing: weights and batch-norm statistics stay as they were', async () => {
    const config = selfTestConfig();
    const state = createTrainState(config);
    const view = tf.div(images(config), 255) as tf.Tensor4D;
    const snapshot = async () => Promise.all(state.model.encoder.weights.map((w) => w.read().data()));
    const before = await snapshot();
    const { loss, grads } = await probeGradients(state, view, view);
    expect(Number.isFinite(loss)).toBe(true);
    expect(grads.size).toBe(state.params.length);
    const after = await snapshot();
    after.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i]!)));
    view.dispose();
    disposeTrainState(state);
  });
});

describe('backend agreement check', () => {
  it('agrees with itself on one backend (the in-browser check compares WebGPU with CPU)', async () => {
    const report = await checkBackendAgreement('cpu');
    expect(report.backends).toEqual(['cpu', 'cpu']);
    expect(report.lossRelErr).toBe(0);
    expect(report.maxGradRelErr).toBe(0);
    expect(report.params).toBeGreaterThan(10);
    expect(report.ok).toBe(true);
  });
});

describe('validateTrainConfig', () => {
  it('accepts the defaults', () => {
    expect(validateTrainConfig(defaultTrainConfig())).toEqual([]);
    expect(validateTrainConfig(selfTestConfig())).toEqual([]);
  });

  it('names each absurd setting with a reason', () => {
    const config = defaultTrainConfig();
    config.batchSize = 1;
    config.method = { name: 'simclr', temperature: 0 };
    config.optim = { ...config.optim, learningRate: NaN };
    config.augment = { ...config.augment, flipProb: 1.5, cropAreaMin: 0.9, cropAreaMax: 0.5 };
    const fields = validateTrainConfig(config).map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(['batchSize', 'method.temperature', 'optim.learningRate', 'augment.flipProb', 'augment.cropAreaMax']));
    expect(validateTrainConfig(config).find((p) => p.field === 'batchSize')!.message).toMatch(/from 2/);
  });
});

describe('upgradeConfig: the model fields', () => {
  it('gives a config saved before the model fields existed the model it was trained with, and leaves a new one as it is', () => {
    const fresh = defaultTrainConfig(16, 1);
    expect(upgradeConfig(fresh)).toEqual(fresh);
    const { headHidden: _h, representationRelu: _r, init: _i, ...oldModel } = fresh.model;
    const stored = { ...fresh, model: oldModel } as unknown as TrainConfig;
    const normalised = upgradeConfig(stored);
    expect(normalised.model).toEqual({ ...oldModel, headHidden: 'representation', representationRelu: true, init: 'keras' });
    expect(validateTrainConfig(normalised)).toEqual([]);
    expect(validateTrainConfig(stored).map((p) => p.field)).toEqual(['model.headHidden', 'model.representationRelu', 'model.init']);
  });
});

describe('gradientDisagreement', () => {
  const grads = (bias: number[], kernel: number[]) => new Map([['representation/bias', Float32Array.from(bias)], ['block1_conv/kernel', Float32Array.from(kernel)]]);

  it('judges a gradient that is zero in exact arithmetic against the global norm, not its own rounding noise', () => {
    const cpu = grads([1e-9, -2e-9], [3, 4]);
    const gpu = grads([4e-9, 1e-9], [3, 4]);
    expect(gradientDisagreement(gpu, cpu).maxGradRelErr).toBeLessThan(1e-6);
  });

  it('still finds a wrong gradient, small or large', () => {
    expect(gradientDisagreement(grads([0, 0], [3, 4.05]), grads([0, 0], [3, 4]))).toMatchObject({ worstParam: 'block1_conv/kernel' });
    expect(gradientDisagreement(grads([0, 0], [3, 4.05]), grads([0, 0], [3, 4])).maxGradRelErr).toBeCloseTo(0.01, 4);
    expect(gradientDisagreement(grads([0.05, 0], [3, 4]), grads([0, 0], [3, 4])).maxGradRelErr).toBeGreaterThan(1e-3 * 10);
  });
});

describe('drawStepProgramsOnce', () => {
  // On WebGL it draws every program of a step at one pixel; on the CPU backend the clamp is a no-op and the same code
  // path runs a whole step of a throwaway copy of the run. Either way the run itself must not change, bit for bit.
  const configs: [string, () => TrainConfig][] = [
    ['SimCLR with Adam', () => ({ ...selfTestConfig(), batchSize: 4 })],
    [
      'BYOL (target network and after-update hook) with LARS',
      () => {
        const c = selfTestConfig();
        return { ...c, batchSize: 4, method: { name: 'byol', targetMomentum: 0.9 }, optim: { ...c.optim, optimizer: 'lars' } };
      },
    ],
  ];

  it.each(configs)('%s: leaves the run, its weights, statistics, optimiser slots, generator and step, as they were, and no tensor behind', async (_, make) => {
    const config = make();
    expect(validateTrainConfig(config)).toEqual([]);
    const state = createTrainState(config);
    const twin = createTrainState(config);
    const batch = images(config);
    // One real step first, so that the optimiser's slots and the batch-norm statistics are not their initial values.
    await trainStep(state, batch);
    await trainStep(twin, batch);
    const before = await saveTrainState(state);
    const tensors = tf.memory().numTensors;

    await drawStepProgramsOnce(state);

    expect(tf.memory().numTensors).toBe(tensors);
    const after = await saveTrainState(state);
    expect(after.step).toBe(before.step);
    expect(after.random).toBe(before.random);
    expect(after.weights.specs).toEqual(before.weights.specs);
    expect(after.optimizer.specs).toEqual(before.optimizer.specs);
    expect(Buffer.from(after.weights.data.buffer).equals(Buffer.from(before.weights.data.buffer))).toBe(true);
    expect(Buffer.from(after.optimizer.data.buffer).equals(Buffer.from(before.optimizer.data.buffer))).toBe(true);
    // And the run goes on exactly as a copy that never had the pass.
    const next = await trainStep(state, batch);
    const twinNext = await trainStep(twin, batch);
    expect(next.loss).toBe(twinNext.loss);
    expect(Buffer.from((await saveTrainState(state)).weights.data.buffer).equals(Buffer.from((await saveTrainState(twin)).weights.data.buffer))).toBe(true);
    batch.dispose();
    disposeTrainState(state);
    disposeTrainState(twin);
  });
});

describe('trainStep: alwaysUpdate', () => {
  it('applies the update even when the gradient norm says not to, and still reports what it read', async () => {
    const config = selfTestConfig();
    const state = createTrainState(config);
    const batch = images(config);
    const before = await snapshotWeights(state);
    const m = await trainStep(state, batch, { maxGradNorm: 0, alwaysUpdate: true });
    expect(m.exploding).toBe(true);
    expect(await snapshotWeights(state)).not.toEqual(before);
    batch.dispose();
    disposeTrainState(state);
  });
});
