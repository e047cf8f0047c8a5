// The collapse statistic on WebGPU (Dawn in Node) against normalize.ts's tfjs ops: the same number to float32
// tolerance for the heads' shapes, a collapsed batch (every row alike: 0) and a single row; three programs.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, useDawn, withFusedKernels } from '../../test/dawn';
import { normalisedStd } from '../normalize';
import { Random } from '../random';
import { MAX_ROWS, fusedNormalisedStd, normalisedStdParallelism } from './normalisedStd';

useDawn();

const read = async (fused: boolean, x: tf.Tensor2D) =>
  withFusedKernels(fused, async () => {
    const s = normalisedStd(x);
    const v = (await s.data())[0]!;
    s.dispose();
    return v;
  });

describe('fused normalised std on WebGPU', () => {
  for (const [rows, dims] of [[1, 4], [32, 64], [33, 7], [256, 128]] as const) {
    it(`${rows} × ${dims}: equals tfjs's`, async () => {
      const rng = new Random(rows * dims);
      const x = tf.tensor2d(Float32Array.from({ length: rows * dims }, () => rng.next() * 4 - 2 + 0.5), [rows, dims]);
      const fused = await read(true, x);
      const reference = await read(false, x);
      expect(Math.abs(fused - reference)).toBeLessThan(1e-6);
      x.dispose();
    });
  }

  it('is 0 for a collapsed batch, ≈ 1/√d for random directions, in three programs', async () => {
    const same = tf.tidy(() => tf.tile(tf.tensor2d([[1, -2, 3, 0.5]]), [16, 1])) as tf.Tensor2D;
    expect(await read(true, same)).toBeLessThan(1e-6);
    const rng = new Random(2);
    const d = 64;
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const random = tf.tensor2d(Float32Array.from({ length: 2048 * d }, gaussian), [2048, d]);
    expect(Math.abs((await read(true, random)) - 1 / Math.sqrt(d))).toBeLessThan(0.01);
    const { count } = await countDispatches(() => read(true, random));
    expect(count).toBe(3);
    tf.dispose([same, random]);
  });

  it('is not too serial for a GPU up to its most rows, and hands other cases to tfjs ops', async () => {
    for (const p of normalisedStdParallelism(MAX_ROWS, 128)) expect(p.serialLoop > 4096 && p.invocations < 8192, p.program).toBe(false);
    const x = tf.zeros([4, 4]) as tf.Tensor2D;
    expect(await withFusedKernels(false, () => fusedNormalisedStd(x))).toBeNull();
    const many = tf.zeros([MAX_ROWS + 2, 4]) as tf.Tensor2D;
    expect(await withFusedKernels(true, () => fusedNormalisedStd(many))).toBeNull();
    tf.dispose([x, many]);
  });
});
