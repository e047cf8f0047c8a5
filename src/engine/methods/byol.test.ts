import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type TrainConfig } from '../config';
import { engineKit } from '../kit';
import { allWeights } from '../model';
import { restoreTrainState, saveTrainState } from '../savedState';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { normalisedSquaredError, targetMomentum } from './byol';

function config(): TrainConfig {
  const c = defaultTrainConfig(8, 1);
  return {
    ...c,
    method: { name: 'byol', targetMomentum: 0.9 },
    model: { ...c.model, width: 1 / 8, projectionDim: 8 },
    batchSize: 4,
    optim: { ...c.optim, learningRate: 0.01, warmupSteps: 0, totalSteps: 10 },
  };
}

async function values(name: string, state: ReturnType<typeof createTrainState>): Promise<Float32Array> {
  const weight = allWeights(state.model).find((w) => w.name === name)!.weight;
  return Float32Array.from(await weight.read().data());
}

describe('BYOL loss', () => {
  it('is the mean squared distance of the L2-normalised prediction and target, 2 − 2·cos', async () => {
    const p = [[1, 2, 2], [0, 3, 4]];
    const z = [[2, 1, 2], [0, -4, 3]];
    const expected =
      p.reduce((sum, row, i) => {
        const a = row.map((x) => x / Math.hypot(...row));
        const b = z[i]!.map((x) => x / Math.hypot(...z[i]!));
        return sum + a.reduce((s, x, j) => s + (x - b[j]!) ** 2, 0);
      }, 0) / p.length;
    const got = (await normalisedSquaredError(engineKit, tf.tensor2d(p), tf.tensor2d(z)).data())[0]!;
    expect(got).toBeCloseTo(expected, 6);
    expect(got).toBeCloseTo((2 - 2 * (8 / 9)) / 2 + (2 - 2 * 0) / 2, 6);
  });

  it('moves its target from the base momentum up to 1 on a cosine', () => {
    expect(targetMomentum(0.99, 0, 100)).toBeCloseTo(0.99, 12);
    expect(targetMomentum(0.99, 50, 100)).toBeCloseTo(0.995, 12);
    expect(targetMomentum(0.99, 100, 100)).toBe(1);
    expect(targetMomentum(0.99, 200, 100)).toBe(1);
  });
});

describe('BYOL target network', () => {
  it('starts as a copy of the online network, gets no gradient, and follows it by τ·target + (1 − τ)·online', async () => {
    const c = config();
    const state = createTrainState(c);
    const name = 'block1_conv/kernel';
    expect(Array.from(await values(`target_encoder/${name}`, state))).toEqual(Array.from(await values(name, state)));
    expect(state.params.some((p) => p.name.startsWith('target'))).toBe(false);
    const targetBefore = await values(`target_encoder/${name}`, state);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    await trainStep(state, images);
    const online = await values(name, state);
    const target = await values(`target_encoder/${name}`, state);
    const tau = targetMomentum(0.9, 1, 10);
    target.forEach((t, i) => expect(t).toBeCloseTo(tau * targetBefore[i]! + (1 - tau) * online[i]!, 6));
    expect(Array.from(target)).not.toEqual(Array.from(online));
    images.dispose();
    disposeTrainState(state);
  });

  it('is saved and restored with the run, so a resumed run follows the same target', async () => {
    const c = config();
    const state = createTrainState(c);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 5), [4, 8, 8, 1], 'int32');
    for (let i = 0; i < 2; i++) await trainStep(state, images);
    const snapshot = await saveTrainState(state);
    expect(snapshot.weights.specs.some((s) => s.name === 'target_projection_head/head1_dense/kernel')).toBe(true);
    const next = await trainStep(state, images);
    const resumed = createTrainState(c);
    restoreTrainState(resumed, snapshot);
    const again = await trainStep(resumed, images);
    expect(again.loss).toBe(next.loss);
    expect(Array.from(await values('target_encoder/block1_conv/kernel', resumed))).toEqual(Array.from(await values('target_encoder/block1_conv/kernel', state)));
    images.dispose();
    disposeTrainState(state);
    disposeTrainState(resumed);
  });
});
