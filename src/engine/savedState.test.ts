import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selfTestConfig } from './selftest';
import { pack, readWeights, restoreTrainState, saveTrainState, unpack, writeWeights } from './savedState';
import { createTrainState, disposeTrainState, trainStep } from './step';
import { syntheticImages } from './synthetic';

const config = selfTestConfig();
const batch = () => tf.tensor4d(syntheticImages(config.batchSize, config.model.imageSize, 3, 7), [config.batchSize, config.model.imageSize, config.model.imageSize, 3], 'int32');

describe('train-state snapshots', () => {
  it('pack and unpack are inverse, and refuse a wrong value count', () => {
    const packed = pack([
      { name: 'a', shape: [2, 2], values: [1, 2, 3, 4] },
      { name: 'b', shape: [], values: [5] },
    ]);
    expect(Array.from(packed.data)).toEqual([1, 2, 3, 4, 5]);
    expect(unpack(packed).map((t) => [t.name, t.shape, Array.from(t.values)])).toEqual([
      ['a', [2, 2], [1, 2, 3, 4]],
      ['b', [], [5]],
    ]);
    expect(() => pack([{ name: 'c', shape: [3], values: [1] }])).toThrow(/1 values for shape \[3\]/);
    expect(() => unpack({ specs: packed.specs, data: new Float32Array(3) })).toThrow(/need 5 values/);
  });

  it('a restored state takes exactly the same next step as the original', async () => {
    await tf.setBackend('cpu');
    const original = createTrainState(config);
    const images = batch();
    for (let i = 0; i < 2; i++) await trainStep(original, images);
    const snapshot = await saveTrainState(original);
    // A different seed: everything that matters must come from the snapshot.
    const restored = createTrainState({ ...config, seed: config.seed + 99 });
    restoreTrainState(restored, snapshot);
    expect(restored.step).toBe(2);
    const before = tf.memory().numTensors;
    const a = await trainStep(original, images);
    const b = await trainStep(restored, images);
    expect(b.step).toBe(3);
    expect(b.loss).toBeCloseTo(a.loss, 5);
    const [wa, wb] = [await readWeights(original.model), await readWeights(restored.model)];
    let maxDiff = 0;
    wa.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - wb.data[i]!))));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    disposeTrainState(original);
    disposeTrainState(restored);
  });

  it('refuses weights that do not fit, and changes nothing when it does', async () => {
    await tf.setBackend('cpu');
    const state = createTrainState(config);
    const before = await readWeights(state.model);
    const stored = unpack(before);
    const wrong = stored.map((s, i) => (i === 3 ? { ...s, shape: [...s.shape, 1] } : s));
    expect(() => writeWeights(state.model, wrong)).toThrow(/in the file but/);
    expect(() => writeWeights(state.model, [...stored, { name: 'nope/kernel', shape: [1], values: new Float32Array(1) }])).toThrow(/no weight 'nope\/kernel'/);
    expect(() => writeWeights(state.model, stored.slice(1))).toThrow(/weights missing/);
    // Only part of the weights, allowed: the rest keep their values.
    writeWeights(state.model, stored.slice(0, 2).map((s) => ({ ...s, values: new Float32Array(s.values.length).fill(0.5) })), { partial: true });
    const after = await readWeights(state.model);
    const firstTwo = stored[0]!.values.length + stored[1]!.values.length;
    expect(after.data.subarray(0, firstTwo).every((v) => v === 0.5)).toBe(true);
    expect(Array.from(after.data.subarray(firstTwo))).toEqual(Array.from(before.data.subarray(firstTwo)));
    disposeTrainState(state);
  });
});
