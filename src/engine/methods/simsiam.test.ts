import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type TrainConfig } from '../config';
import { engineKit } from '../kit';
import { createNetwork, disposeNetwork } from '../model';
import { negativeCosine, viewCosine } from './simsiam';

/** −mean over rows of cos(p, z), in float64; a zero row has cosine 0 (the engine's l2Normalize adds 1e-12 under the root). */
function referenceNegativeCosine(p: number[][], z: number[][]): number {
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) + 1e-12);
  return -p.reduce((sum, row, i) => sum + row.reduce((s, x, j) => s + x * z[i]![j]!, 0) / (norm(row) * norm(z[i]!)), 0) / p.length;
}

function random(rows: number, cols: number, seed: number): number[][] {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Array.from({ length: rows }, () => Array.from({ length: cols }, next));
}

describe('SimSiam loss', () => {
  it('is −cos(p, z) averaged over rows, as the paper\'s D, and does not depend on scale', async () => {
    const p = random(6, 5, 1);
    const z = random(6, 5, 2);
    const got = (await negativeCosine(engineKit, tf.tensor2d(p), tf.tensor2d(z)).data())[0]!;
    expect(got).toBeCloseTo(referenceNegativeCosine(p, z), 6);
    const scaled = (await negativeCosine(engineKit, tf.mul(tf.tensor2d(p), 30) as tf.Tensor2D, tf.mul(tf.tensor2d(z), 0.01) as tf.Tensor2D).data())[0]!;
    expect(scaled).toBeCloseTo(got, 5);
  });

  it('passes no gradient to the target z (stop-gradient), and the exact gradient to p', async () => {
    const p = tf.tensor2d(random(4, 3, 3));
    const z = tf.tensor2d(random(4, 3, 4));
    const [gp, gz] = tf.grads((a: tf.Tensor, b: tf.Tensor) => negativeCosine(engineKit, a as tf.Tensor2D, b as tf.Tensor2D))([p, z]);
    expect(Array.from(await gz!.data()).every((v) => v === 0)).toBe(true);
    // d/dp of −cos(p, z)/n: −(ẑ − cos·p̂) / (n‖p‖), row by row.
    const pv = await p.array();
    const zv = await z.array();
    const expected = pv.flatMap((row, i) => {
      const np = Math.hypot(...row);
      const nz = Math.hypot(...zv[i]!);
      const cos = row.reduce((s, x, j) => s + x * zv[i]![j]!, 0) / (np * nz);
      return row.map((x, j) => -(zv[i]![j]! / nz - (cos * x) / np) / (np * pv.length));
    });
    const got = Array.from(await gp!.data());
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('reaches its minimum −1 when every prediction points where its target does (a collapse reaches it too)', async () => {
    const same = tf.ones([4, 8]) as tf.Tensor2D;
    expect((await negativeCosine(engineKit, same, same).data())[0]).toBeCloseTo(-1, 6);
    expect((await viewCosine(engineKit, same, same).data())[0]).toBeCloseTo(1, 6);
  });
});

describe('SimSiam network', () => {
  const config = (): TrainConfig => {
    const c = defaultTrainConfig(8, 1);
    return { ...c, method: { name: 'simsiam', predictorRatio: 0.25 }, model: { ...c.model, width: 1 / 8, projectionDim: 16 } };
  };

  it('has a projector ending in batch norm and a bottleneck predictor ending in a biased dense layer', () => {
    const network = createNetwork(config());
    const { projection_head: projector, predictor } = network.method.heads;
    expect(projector!.layers.at(-1)!.getClassName()).toBe('BatchNormalization');
    const dense = predictor!.layers.filter((l) => l.getClassName() === 'Dense').map((l) => l.getConfig() as { units: number; useBias: boolean });
    expect(dense).toEqual([expect.objectContaining({ units: 4, useBias: false }), expect.objectContaining({ units: 16, useBias: true })]);
    expect(network.method.followers).toEqual({});
    disposeNetwork(network);
  });

  it('computes the symmetrised loss D(p1, z2)/2 + D(p2, z1)/2 of its own projections and predictions', async () => {
    const network = createNetwork(config());
    const view1 = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const view2 = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const out = network.method.objective({ encoder: network.encoder, view1, view2 });
    // The same forward pass by hand (training mode again: batch norm takes the batch's statistics either way).
    const h = network.encoder.apply(tf.concat([view1, view2], 0), { training: true }) as tf.Tensor2D;
    const z = (await (network.method.heads.projection_head!.apply(h, { training: true }) as tf.Tensor2D).array()) as number[][];
    const p = (await (network.method.heads.predictor!.apply(tf.tensor2d(z), { training: true }) as tf.Tensor2D).array()) as number[][];
    const expected = (referenceNegativeCosine(p.slice(0, 4), z.slice(4)) + referenceNegativeCosine(p.slice(4), z.slice(0, 4))) / 2;
    expect((await out.loss.data())[0]).toBeCloseTo(expected, 4);
    disposeNetwork(network);
  });
});
