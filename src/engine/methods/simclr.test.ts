import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { engineKit } from '../kit';
import { healthyEmbeddingStd } from '../levels';
import { normalisedStd } from '../normalize';
import { noLearningLoss, ntXentParts } from './simclr';

/** NT-Xent alone. */
function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  const { loss, contrastiveAcc } = ntXentParts(engineKit, z1, z2, temperature);
  contrastiveAcc.dispose();
  return loss;
}

interface Fixture {
  N_pairs: number;
  dim: number;
  z_a: number[][];
  z_b: number[][];
  cases: { temperature: number; loss: number; loss_a_to_b: number; loss_b_to_a: number; grad_z: number[][] }[];
}
// The float64 reference shipped in ../shared/fixtures (rows i and i+N of z are positives).
const fixture: Fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../../shared/fixtures/ntxent_vectors.json', import.meta.url)), 'utf8'),
);

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

describe('ntXentLoss', () => {
  it.each(fixture.cases.map((c) => [c.temperature, c] as const))('matches the float64 reference at τ = %s', async (t, c) => {
    const loss = ntXentLoss(tf.tensor2d(fixture.z_a), tf.tensor2d(fixture.z_b), t);
    const value = (await loss.data())[0]!;
    expect(relErr(value, c.loss)).toBeLessThan(1e-5);
    // The loss averages both directions.
    expect(relErr(value, (c.loss_a_to_b + c.loss_b_to_a) / 2)).toBeLessThan(1e-5);
  });

  it.each(fixture.cases.map((c) => [c.temperature, c] as const))('has the reference gradient at τ = %s', async (t, c) => {
    const z = tf.tensor2d([...fixture.z_a, ...fixture.z_b]);
    const n = fixture.N_pairs;
    const grad = tf.grad((x: tf.Tensor) => ntXentLoss(x.slice([0, 0], [n, -1]) as tf.Tensor2D, x.slice([n, 0], [n, -1]) as tf.Tensor2D, t))(z);
    const got = await grad.data();
    const want = c.grad_z.flat();
    const norm = Math.sqrt(want.reduce((s, v) => s + v * v, 0));
    const diff = Math.sqrt(want.reduce((s, v, i) => s + (v - got[i]!) ** 2, 0));
    expect(diff / norm).toBeLessThan(1e-4);
  });

  it('gradient agrees with central finite differences', async () => {
    const n = 4;
    const d = 6;
    const base = tf.randomNormal([2 * n, d], 0, 1, 'float32', 7);
    const lossOf = (x: tf.Tensor) => ntXentLoss(x.slice([0, 0], [n, -1]) as tf.Tensor2D, x.slice([n, 0], [n, -1]) as tf.Tensor2D, 0.5);
    const analytic = await tf.grad(lossOf)(base).data();
    const x0 = await base.data();
    const h = 1e-2;
    for (const idx of [0, 5, 13, 22, 31, 47]) {
      const plus = Float32Array.from(x0);
      const minus = Float32Array.from(x0);
      plus[idx]! += h;
      minus[idx]! -= h;
      const lp = (await lossOf(tf.tensor2d(plus, [2 * n, d])).data())[0]!;
      const lm = (await lossOf(tf.tensor2d(minus, [2 * n, d])).data())[0]!;
      const numeric = (lp - lm) / (2 * h);
      expect(Math.abs(numeric - analytic[idx]!)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
    }
  });

  it('equals ln(2N − 1) when every embedding is the same point', async () => {
    for (const n of [2, 8, 32]) {
      const z = tf.ones([n, 16]) as tf.Tensor2D;
      for (const t of [0.1, 0.5]) {
        const loss = (await ntXentLoss(z, z, t).data())[0]!;
        expect(relErr(loss, noLearningLoss(n))).toBeLessThan(1e-5);
      }
    }
  });

  it('does not depend on the scale of z (it is normalised inside)', async () => {
    const a = tf.tensor2d(fixture.z_a);
    const b = tf.tensor2d(fixture.z_b);
    const l1 = (await ntXentLoss(a, b, 0.2).data())[0]!;
    const l2 = (await ntXentLoss(a.mul(37), b.mul(0.01) as tf.Tensor2D, 0.2).data())[0]!;
    expect(relErr(l2, l1)).toBeLessThan(1e-5);
  });

  it('refuses mismatched views and a non-positive temperature', () => {
    expect(() => ntXentLoss(tf.zeros([3, 4]), tf.zeros([2, 4]), 0.1)).toThrow(/shape/);
    expect(() => ntXentLoss(tf.ones([3, 4]), tf.ones([3, 4]), 0)).toThrow(/temperature/);
  });
});

describe('ntXentParts diagnostics', () => {
  it('contrastive accuracy is 1 for identical well-separated views', async () => {
    const n = 6;
    const e = tf.eye(n, 8) as tf.Tensor2D;
    const good = ntXentParts(engineKit, e, e, 0.2);
    expect((await good.contrastiveAcc.data())[0]).toBe(1);
    // Positive at cosine 1, the 2N − 2 negatives at 0: loss = ln(1 + (2N − 2)·e^(−1/τ)).
    expect(relErr((await good.loss.data())[0]!, Math.log(1 + (2 * n - 2) * Math.exp(-1 / 0.2)))).toBeLessThan(1e-5);
  });
});

describe('the collapse monitor (std of normalised embeddings)', () => {
  it('is 0 when collapsed and about 1/√d for well-spread one-hot vectors', async () => {
    const n = 6;
    expect((await normalisedStd(tf.ones([2 * n, 8])).data())[0]).toBeLessThan(1e-4);
    const e = tf.eye(n, 8) as tf.Tensor2D;
    expect((await normalisedStd(tf.concat([e, e], 0)).data())[0]).toBeGreaterThan(0.5 * healthyEmbeddingStd(8));
  });

  it('is near 1/√d for random Gaussian embeddings', async () => {
    const d = 64;
    const z = tf.randomNormal([512, d], 0, 1, 'float32', 3) as tf.Tensor2D;
    expect(relErr((await normalisedStd(z).data())[0]!, healthyEmbeddingStd(d))).toBeLessThan(0.05);
  });

  it('leaves no tensor behind', () => {
    const a = tf.randomNormal([8, 16]) as tf.Tensor2D;
    const b = tf.randomNormal([8, 16]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) ntXentLoss(a, b, 0.1).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
