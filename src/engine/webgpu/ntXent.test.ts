// The fused NT-Xent on WebGPU (Dawn in Node) against simclr.ts's ntXentParts in tfjs ops (the fused kernels off):
// the loss, the contrastive accuracy and the gradient in z to float32 tolerance, from one image pair to the batches
// the presets train with; four programs forward and two back; each program on tfjs-webgpu's index path for a
// dispatch past the device's workgroup limit; and no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countDispatches, maxRelativeDifference, useDawn, withFusedKernels, withLimitPerProgram } from '../../test/dawn';
import { engineKit } from '../kit';
import { ntXentParts } from '../methods/simclr';
import { Random } from '../random';
import { MAX_ROWS, fusedNtXent, ntXentParallelism } from './ntXent';

useDawn();

/** 2N rows whose two views are alike (view 2 = view 1 + noise), so that the accuracy is neither 0 nor 1. */
function projections(n: number, d: number, seed: number, noise = 0.8): tf.Tensor2D {
  const rng = new Random(seed);
  const first = Array.from({ length: n * d }, () => rng.next() * 2 - 1);
  const second = first.map((v) => v + noise * (rng.next() * 2 - 1));
  return tf.tensor2d([...first, ...second], [2 * n, d]);
}

interface Outcome {
  loss: number;
  acc: number;
  grad: Float32Array;
}

/** The loss, accuracy and ∂loss/∂z of one pass, fused or in tfjs ops; upstream scales the loss's gradient. */
async function run(fused: boolean, z: tf.Tensor2D, temperature: number, upstream = 1): Promise<Outcome> {
  return withFusedKernels(fused, async () => {
    const n = z.shape[0] / 2;
    let acc: tf.Scalar | null = null;
    const parts = (x: tf.Tensor2D) => {
      const out = fused ? fusedNtXent(x, temperature) : ntXentParts(engineKit, x.slice([0, 0], [n, -1]), x.slice([n, 0], [n, -1]), temperature);
      if (!out) throw new Error('the fused kernels did not run');
      return out;
    };
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor2D) => {
      const { loss, contrastiveAcc } = parts(x);
      acc = tf.keep(contrastiveAcc);
      return tf.mul(loss, upstream) as tf.Scalar;
    })(z);
    const outcome = { loss: (await value.data())[0]! / upstream, acc: (await acc!.data())[0]!, grad: (await grad.data()) as Float32Array };
    tf.dispose([value, grad, acc!]);
    return outcome;
  });
}

describe('fused NT-Xent on WebGPU', () => {
  // One image (2 rows), odd dimensions, the default run (batch 16, d 64), a batch of 128 at d 128 (the colour and
  // Best quality heads), and an odd number of images.
  const cases: [number, number, number][] = [
    [1, 3, 0.5],
    [3, 5, 0.2],
    [16, 64, 0.2],
    [17, 32, 0.1],
    [128, 128, 0.5],
  ];
  for (const [n, d, temperature] of cases) {
    it(`${2 * n} rows of ${d}, τ = ${temperature}: loss, accuracy and gradient equal tfjs's`, async () => {
      const z = projections(n, d, n * 31 + d);
      const fused = await run(true, z, temperature, 1.7);
      const reference = await run(false, z, temperature, 1.7);
      expect(Math.abs(fused.loss - reference.loss) / Math.max(1, reference.loss)).toBeLessThan(1e-5);
      expect(fused.acc).toBe(reference.acc);
      // Relative to the largest component (one image's gradient is exactly 0: its only other view is its positive).
      const scale = Math.max(1e-6, ...reference.grad.map(Math.abs));
      expect(maxRelativeDifference(fused.grad.map((g) => g / scale), reference.grad.map((g) => g / scale))).toBeLessThan(1e-4);
      z.dispose();
    });
  }

  it('tells a learnt batch from a random one: accuracy 1 and a loss near 0 when each view is its pair’s copy', async () => {
    const z = projections(8, 16, 3, 0);
    const fused = await run(true, z, 0.1);
    expect(fused.acc).toBe(1);
    const reference = await run(false, z, 0.1);
    expect(Math.abs(fused.loss - reference.loss)).toBeLessThan(1e-5);
    z.dispose();
  });

  it('runs in four programs forward and two back, and leaves no tensor behind', async () => {
    const z = projections(16, 64, 9);
    await run(true, z, 0.2); // compiles
    const before = tf.memory().numTensors;
    const forward = await countDispatches(() =>
      withFusedKernels(true, async () => {
        const out = fusedNtXent(z, 0.2)!;
        await out.loss.data();
        tf.dispose([out.loss, out.contrastiveAcc]);
      }),
    );
    expect([...forward.byProgram.keys()]).toEqual(['tabclr_ntxent_unit', 'tabclr_ntxent_logits', 'tabclr_ntxent_rows', 'tabclr_ntxent_mean']);
    const both = await countDispatches(() => run(true, z, 0.2));
    expect(both.count).toBe(6 + 2); // and run()'s multiply by the upstream factor, forward and back
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });

  it('on the index path of a dispatch past the workgroup limit, every program of more than two workgroups', async () => {
    // 192 rows of 8: the rows program has 3 workgroups, the others 24 or more. Each program runs with the device's
    // limit, as tfjs-webgpu reads it, lowered to √(its workgroups): it is spread over x and y. The mean program is
    // one invocation, one workgroup, on any batch: there is no dispatch of it to spread.
    const z = projections(96, 8, 4);
    const reference = await run(false, z, 0.3);
    const { result: fused, spread } = await withLimitPerProgram(() => run(true, z, 0.3));
    expect(spread.sort()).toEqual(['tabclr_ntxent_grad_input', 'tabclr_ntxent_grad_unit', 'tabclr_ntxent_logits', 'tabclr_ntxent_rows', 'tabclr_ntxent_unit']);
    expect(Math.abs(fused.loss - reference.loss)).toBeLessThan(1e-5);
    expect(fused.acc).toBe(reference.acc);
    const scale = Math.max(...reference.grad.map(Math.abs));
    expect(maxRelativeDifference(fused.grad.map((g) => g / scale), reference.grad.map((g) => g / scale))).toBeLessThan(1e-4);
    z.dispose();
  });

  it('no program is too serial for a GPU, up to its most rows', () => {
    for (const [rows, dims] of [[32, 64], [512, 128], [MAX_ROWS, 128]] as const) {
      const programs = ntXentParallelism(rows, dims);
      expect(programs).toHaveLength(6);
      for (const p of programs) expect(p.serialLoop > 4096 && p.invocations < 8192, `${p.program} at ${rows} × ${dims}`).toBe(false);
    }
  });

  it('hands back to tfjs ops what it does not cover: the fused kernels off, an odd number of rows, too many', async () => {
    const z = projections(4, 8, 1);
    expect(await withFusedKernels(false, () => fusedNtXent(z, 0.2))).toBeNull();
    const odd = z.slice([0, 0], [7, -1]) as tf.Tensor2D;
    expect(await withFusedKernels(true, () => fusedNtXent(odd, 0.2))).toBeNull();
    const many = tf.zeros([MAX_ROWS + 2, 8]) as tf.Tensor2D;
    expect(await withFusedKernels(true, () => fusedNtXent(many, 0.2))).toBeNull();
    tf.dispose([z, odd, many]);
  });
});
