import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { halvedBatch } from '../../worker/recovery';
import { batchChangeProblems, runCautions, runProblems } from '../../worker/validation';
import { modelBundle } from '../../export/bundle';
import { zipFiles } from '../../export/download';
import { readModelZip } from '../../export/modelZip';
import { readSafetensorsHeader } from '../../export/safetensors';
import { TORCH_MODULE_SOURCE } from '../../export/torchModule';
import { defaultTrainConfig, type TrainConfig } from '../config';
import { engineKit } from '../kit';
import { allWeights } from '../model';
import { restoreTrainState, saveTrainState } from '../savedState';
import { createTrainState, disposeTrainState, probeGradients, trainStep, type TrainState } from '../step';
import { syntheticImages } from '../synthetic';
import { mocoStepAgainstPytorch } from '../../test/mocoParity';
import { targetMomentum } from './byol';
import { defaultMethodConfig, fitMethodToData, methodDataProblems, methodOf, smallestBatch } from '.';
import { DEFAULT_QUEUE_SIZE, groupSizes, infoNce, keyShuffles, mocoNoLearningLoss } from './moco';

function config(method: Partial<Extract<TrainConfig['method'], { name: 'moco' }>> = {}): TrainConfig {
  const c = defaultTrainConfig(8, 1);
  return {
    ...c,
    method: { ...defaultMethodConfig('moco'), queueSize: 20, keyMomentum: 0.9, ...method },
    model: { ...c.model, width: 1 / 8, projectionDim: 8 },
    batchSize: 4,
    optim: { ...c.optim, learningRate: 0.01, warmupSteps: 0, totalSteps: 10 },
  };
}

async function values(name: string, state: TrainState): Promise<Float32Array> {
  const weight = allWeights(state.model).find((w) => w.name === name)!.weight;
  return Float32Array.from(await weight.read().data());
}

describe('MoCo InfoNCE', () => {
  it('is −log softmax of the positive among [positive, queue] at temperature τ, and counts the positive on top', async () => {
    const q = [[3, 4], [1, 0]];
    const k = [[0.6, 0.8], [0, 1]];
    const queue = [[1, 0], [0, -1], [-0.6, 0.8]];
    const tau = 0.5;
    let expected = 0;
    q.forEach((row, i) => {
      const qn = row.map((x) => x / Math.hypot(...row));
      const dot = (v: number[]) => (qn[0]! * v[0]! + qn[1]! * v[1]!) / tau;
      const logits = [dot(k[i]!), ...queue.map(dot)];
      expected += Math.log(logits.reduce((s, l) => s + Math.exp(l), 0)) - logits[0]!;
    });
    const parts = infoNce(engineKit, tf.tensor2d(q), tf.tensor2d(k), tf.tensor2d(queue), tau);
    expect((await parts.loss.data())[0]).toBeCloseTo(expected / 2, 5);
    // Row 1's positive (cos 1) beats the queue; row 2's (cos 0) loses to [1, 0] (cos 1).
    expect((await parts.positiveAcc.data())[0]).toBeCloseTo(0.5, 6);
    tf.dispose([parts.loss, parts.positiveAcc]);
  });

  it('sits at ln(K + 1) when every key is as similar as the positive', async () => {
    const parts = infoNce(engineKit, tf.tensor2d([[1, 0]]), tf.tensor2d([[1, 0]]), tf.tensor2d(Array.from({ length: 7 }, () => [1, 0])), 0.2);
    expect((await parts.loss.data())[0]).toBeCloseTo(mocoNoLearningLoss(7), 5);
    expect(methodOf({ name: 'moco' }).levels({ batchSize: 16, projectionDim: 64, settings: { queueSize: 7 } }).noLearning!.label).toBe('ln 8 = 2.08');
    tf.dispose([parts.loss, parts.positiveAcc]);
  });
});

describe('MoCo shuffled batch norm', () => {
  it('splits a batch into even groups of at least 2 images', () => {
    expect(groupSizes(16, 2)).toEqual([8, 8]);
    expect(groupSizes(10, 4)).toEqual([3, 3, 2, 2]);
    expect(groupSizes(5, 8)).toEqual([3, 2]);
    expect(groupSizes(3, 1)).toEqual([3]);
  });

  it('shuffles the keys by a permutation that depends on the seed and the step only', () => {
    const [a, b] = keyShuffles(7, 3, 16);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect([...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(keyShuffles(7, 3, 16)).toEqual([a, b]);
    expect(keyShuffles(7, 4, 16)).not.toEqual([a, b]);
    expect(keyShuffles(8, 3, 16)).not.toEqual([a, b]);
  });

  it("normalises a key with another group's statistics than its query's: with one group, the step's keys differ", async () => {
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    const keysAfterOneStep = async (bnGroups: number) => {
      const state = createTrainState(config({ bnGroups }));
      await trainStep(state, images);
      const keys = (await values('queue/keys', state)).slice(0, 8 * 8);
      disposeTrainState(state);
      return keys;
    };
    // Step 1 draws the same views either way (same seed); only the batch-norm groups differ.
    const [split, whole] = [await keysAfterOneStep(2), await keysAfterOneStep(1)];
    const difference = split.reduce((m, v, i) => Math.max(m, Math.abs(v - whole[i]!)), 0);
    expect(difference).toBeGreaterThan(1e-3);
    images.dispose();
  });
});

describe('MoCo key network and queue', () => {
  it('starts the key network as a copy, trains only the query network, and follows it by m·key + (1 − m)·query', async () => {
    const state = createTrainState(config());
    const name = 'block1_conv/kernel';
    expect(Array.from(await values(`key_encoder/${name}`, state))).toEqual(Array.from(await values(name, state)));
    expect(state.params.some((p) => p.name.startsWith('key') || p.name.startsWith('queue'))).toBe(false);
    const before = await values(`key_encoder/${name}`, state);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    await trainStep(state, images);
    const query = await values(name, state);
    const key = await values(`key_encoder/${name}`, state);
    const m = targetMomentum(0.9, 1, 10);
    key.forEach((k, i) => expect(k).toBeCloseTo(m * before[i]! + (1 - m) * query[i]!, 6));
    images.dispose();
    disposeTrainState(state);
  });

  it('starts with K random unit keys, enqueues 2N keys a step over the oldest (wrapping), and reports the queue age', async () => {
    const state = createTrainState(config({ queueSize: 20 }));
    const d = 8;
    const start = await values('queue/keys', state);
    for (let r = 0; r < 20; r++) expect(Math.hypot(...start.slice(r * d, (r + 1) * d))).toBeCloseTo(1, 5);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    const ages: number[] = [];
    const snapshots: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      ages.push((await trainStep(state, images)).diagnostics.queueAge!);
      snapshots.push(await values('queue/keys', state));
    }
    // 8 keys a step into 20 slots: step 1 fills 0–7, step 2 8–15, step 3 16–19 and 0–3.
    expect(Array.from(await values('queue/written_at', state))).toEqual([3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(Array.from(await values('queue/pointer', state))).toEqual([4]);
    // Steps since the oldest key: the random start counts as step 0.
    expect(ages).toEqual([1, 2, 3]);
    // Step 2 left rows 0–7 (step 1's keys) and 16–19 (still random) alone.
    expect(Array.from(snapshots[1]!.slice(0, 8 * d))).toEqual(Array.from(snapshots[0]!.slice(0, 8 * d)));
    expect(Array.from(snapshots[1]!.slice(16 * d))).toEqual(Array.from(start.slice(16 * d)));
    for (let r = 0; r < 20; r++) expect(Math.hypot(...snapshots[2]!.slice(r * d, (r + 1) * d))).toBeCloseTo(1, 5);
    images.dispose();
    disposeTrainState(state);
  });

  it('is saved and restored with the run: a resumed run has the same queue, key network and next loss', async () => {
    const c = config();
    const state = createTrainState(c);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    for (let i = 0; i < 2; i++) await trainStep(state, images);
    const snapshot = await saveTrainState(state);
    const names = snapshot.weights.specs.map((s) => s.name);
    for (const name of ['queue/keys', 'queue/written_at', 'queue/pointer', 'key_encoder/block1_conv/kernel', 'key_projection_head/head1_dense/kernel']) expect(names).toContain(name);
    const next = await trainStep(state, images);
    const resumed = createTrainState(c);
    restoreTrainState(resumed, snapshot);
    const again = await trainStep(resumed, images);
    expect(again.step).toBe(next.step);
    expect(again.loss).toBe(next.loss);
    expect(again.diagnostics).toEqual(next.diagnostics);
    expect(Array.from(await values('queue/keys', resumed))).toEqual(Array.from(await values('queue/keys', state)));
    images.dispose();
    disposeTrainState(state);
    disposeTrainState(resumed);
  });

  it('holds no tensor after the network is disposed', async () => {
    const before = tf.memory().numTensors;
    const state = createTrainState(config());
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    await trainStep(state, images);
    // A probe leaves its keys pending, as a skipped step does: they are the method's to free.
    const [v1, v2] = tf.tidy(() => tf.split(tf.zeros([8, 8, 8, 1]), 2, 0)) as [tf.Tensor4D, tf.Tensor4D];
    await probeGradients(state, v1, v2);
    tf.dispose([images, v1, v2]);
    disposeTrainState(state);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('MoCo in the weights download', () => {
  it('holds the query encoder and head, never the key network or the queue, and reads back as a model zip', async () => {
    const c = config();
    const state = createTrainState(c);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    await trainStep(state, images);
    const files = await modelBundle(state.model, { config: c, step: 1, metrics: null, includeHead: true, version: '0.1.0', torchModule: TORCH_MODULE_SOURCE });
    const names = files.map((f) => f.name);
    expect(names.some((n) => /key|queue/.test(n))).toBe(false);
    const tensors = Object.keys(readSafetensorsHeader(files.find((f) => f.name === 'weights.safetensors')!.bytes).tensors);
    expect(tensors).toContain('encoder.block1_conv.weight');
    expect(tensors).toContain('projection_head.head1_dense.bias');
    expect(tensors.filter((n) => /key|queue/.test(n))).toEqual([]);
    const loaded = readModelZip(zipFiles(files), 'moco.zip');
    expect(loaded.config.method).toEqual(c.method);
    expect(loaded.head!.map((w) => w.name)).toEqual(['head1_dense/kernel', 'head1_dense/bias', 'head2_dense/kernel', 'head2_dense/bias']);
    images.dispose();
    disposeTrainState(state);
  });
});

describe('MoCo shuffled batch norm and the batch', () => {
  const request = (c: TrainConfig) => ({ config: c, steps: 10, monitor: { snapshotEvery: 10, probeCount: 64, profileSteps: false }, checkpointEvery: 0 });
  const problemsOf = (c: TrainConfig) => runProblems(request(c), { dataset: { count: 300, imageSize: 8, channels: 1 }, maxBufferBytes: null });
  const at = (batchSize: number, bnGroups: number): TrainConfig => ({ ...config({ bnGroups }), batchSize, optim: { ...config().optim, totalSteps: 10 } });

  it('refuses a batch too small for the groups asked for, beside the groups, naming the shortcut and what to change', () => {
    const [tooSmall, ...rest] = problemsOf(at(3, 2));
    expect(rest).toEqual([]);
    expect(tooSmall!.field).toBe('method.bnGroups');
    expect(tooSmall!.message).toBe(
      'method.bnGroups: 2 shuffled batch-norm groups need a batch of at least 4 (2 images a group), and the batch is 3: no two groups can be formed, so a query and ' +
        'its positive key are normalised with statistics of the same images, and the encoder can find its key from those batch statistics instead of from what ' +
        'the image shows, learning little (positive accuracy nears 100 % while kNN stays flat). Raise the batch size to 4.',
    );
    // Fewer groups than asked, but still two or more: no shortcut, and two ways out.
    expect(problemsOf(at(5, 4)).map((p) => p.message)).toEqual([
      'method.bnGroups: 4 shuffled batch-norm groups need a batch of at least 8 (2 images a group), and the batch is 5: it makes at most 2 groups. Raise the batch size to 8, or use at most 2 groups.',
    ]);
    expect(problemsOf(at(4, 2))).toEqual([]);
    expect(problemsOf(at(8, 4))).toEqual([]);
    // Going on at a smaller batch after running out of memory is checked the same way.
    expect(batchChangeProblems(at(3, 2), { count: 300 }, null).map((p) => p.field)).toEqual(['method.bnGroups']);
    expect(smallestBatch(at(16, 4).method)).toBe(8);
    expect(smallestBatch(defaultMethodConfig('simclr'))).toBe(2);
  });

  it('trains with the shuffle off (1 group) but says beside the field what that gives up and what to change', () => {
    expect(problemsOf(at(3, 1))).toEqual([]);
    expect(runCautions(at(3, 1))).toEqual([
      {
        field: 'method.bnGroups',
        message:
          '1 group turns the shuffled batch norm off: a query and its positive key are normalised with statistics of the same images, and the encoder can find ' +
          'its key from those batch statistics instead of from what the image shows, learning little (positive accuracy nears 100 % while kNN stays flat). Use 2 or ' +
          'more groups (a batch of at least 4).',
      },
    ]);
    expect(runCautions(at(16, 2))).toEqual([]);
    expect(runCautions({ ...at(16, 2), method: defaultMethodConfig('simclr') })).toEqual([]);
  });

  it('offers no batch after running out of memory that the groups could not use', () => {
    expect(halvedBatch(at(6, 2))).toBe(4);
    expect(halvedBatch(at(16, 2))).toBe(8);
    expect(halvedBatch(at(4, 2))).toBeNull();
    expect(halvedBatch(at(4, 1))).toBe(2);
    expect(halvedBatch({ batchSize: 3, method: defaultMethodConfig('simclr') })).toBe(2);
  });
});

describe('MoCo queue and the folder', () => {
  it('refuses a queue longer than the folder, saying why, and fits its default to a small folder', () => {
    const c = { ...config({ queueSize: DEFAULT_QUEUE_SIZE }), batchSize: 16, optim: { ...config().optim, totalSteps: 10 } };
    const dataset = { count: 300, imageSize: 8, channels: 1 as const };
    const problems = runProblems({ config: c, steps: 10, monitor: { snapshotEvery: 10, probeCount: 64, profileSteps: false }, checkpointEvery: 0 }, { dataset, maxBufferBytes: null });
    const queue = problems.find((p) => p.field === 'method.queueSize');
    expect(queue?.message).toMatch(/at most 300: the folder has 300 images: a longer queue would hold an image’s own keys/);
    expect(methodDataProblems({ ...c.method, queueSize: 300 } as TrainConfig['method'], { datasetSize: 300, batchSize: 16 })).toEqual([]);
    expect(fitMethodToData(defaultMethodConfig('moco'), { datasetSize: 300, batchSize: 16 }).queueSize).toBe(300);
    expect(fitMethodToData(defaultMethodConfig('moco'), { datasetSize: 60000, batchSize: 16 }).queueSize).toBe(DEFAULT_QUEUE_SIZE);
    expect(fitMethodToData(defaultMethodConfig('simclr'), { datasetSize: 10, batchSize: 4 })).toEqual(defaultMethodConfig('simclr'));
  });
});

// Step-level parity with PyTorch on the CPU backend (src/test/mocoParity.ts; webgpu/moco.test.ts runs the same on WebGPU).
mocoStepAgainstPytorch('the CPU');
