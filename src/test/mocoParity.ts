// One MoCo v2 step against PyTorch (src/engine/fixtures/moco-step-parity.json: scripts/parity/moco-case.ts, then
// scripts/parity/moco_parity.py), on whichever backend the calling test file runs: the CPU in
// src/engine/methods/moco.test.ts, WebGPU (Dawn in Node, the fused kernels on) in src/engine/webgpu/moco.test.ts. The
// same weights, queue, views and key shuffles; no PyTorch at test time.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { disposeTrainState, probeGradients, trainStep, withFrozenStatistics } from '../engine/step';
import { decode, expectClose, expectGradientsClose, fixtureViews, readParityFixture, stateFromFixture, weightsInPytorchLayout } from './parityFixture';
import type { MocoReference } from './parityTensors';

const fixture = readParityFixture<MocoReference>(new URL('../engine/fixtures/moco-step-parity.json', import.meta.url));

export interface ParityTolerance {
  /** Each tensor: |a − b| ≤ 1e-6 + rtol · max|b|. */
  rtol: number;
  /** Each loss, absolute. */
  loss: number;
}

/** The CPU's float32, op for op as PyTorch's: measured at most 6.8e-6 relative (a weight after the update). */
export const CPU_TOLERANCE: ParityTolerance = { rtol: 1e-4, loss: 1e-5 };

export function mocoStepAgainstPytorch(backend: string, tolerance: ParityTolerance = CPU_TOLERANCE): void {
  describe(`one MoCo v2 step on ${backend} against PyTorch (same weights, queue, views and key shuffles)`, () => {
    it('computes the same queries, loss over the fixed queue, and gradient of every parameter', async () => {
      const state = stateFromFixture(fixture);
      const [view1, view2] = fixtureViews(fixture);
      await withFrozenStatistics(state.model, async () => {
        const both = tf.concat([view1, view2], 0);
        const out = state.model.method.objective({ encoder: state.model.encoder, views: both, step: 1 });
        expectClose('queries q (training mode, 2 batch-norm groups)', await out.projections.data(), decode(fixture.reference.q), tolerance.rtol);
        tf.dispose([both, out.loss, out.projections, ...Object.values(out.diagnostics)]);
      });

      const { loss, grads } = await probeGradients(state, view1, view2);
      expect(Math.abs(loss - fixture.reference.loss)).toBeLessThan(tolerance.loss);
      expectGradientsClose(state, grads, fixture.reference.grads, tolerance.rtol);
      tf.dispose([view1, view2]);
      disposeTrainState(state);
    });

    it('ends the step with the same query network, key network (momentum update) and queue (the keys enqueued), and follows PyTorch for 6 steps', async () => {
      const state = stateFromFixture(fixture);
      const [view1, view2] = fixtureViews(fixture);
      const first = await trainStep(state, view1, { views: [view1, view2] });
      const after = await weightsInPytorchLayout(state);
      expect([...after.keys()].sort()).toEqual(Object.keys(fixture.reference.afterOne).sort());
      for (const [name, v] of after) expectClose(`${name} after one step`, v, decode(fixture.reference.afterOne[name]!), tolerance.rtol);
      const metrics = [first];
      for (let step = 1; step < fixture.reference.losses.length; step++) metrics.push(await trainStep(state, view1, { views: [view1, view2] }));
      // Measured on the CPU when the fixture was made: at most 4.8e-7 apart over the 6 steps, the queue wrapping twice.
      fixture.reference.losses.forEach((expected, i) => expect(Math.abs(metrics[i]!.methodLoss - expected), `loss at step ${i + 1}`).toBeLessThan(tolerance.loss));
      expect(metrics.map((m) => m.diagnostics.positiveAcc)).toEqual(fixture.reference.positiveAcc);
      expect(metrics.map((m) => m.diagnostics.queueAge)).toEqual(fixture.reference.queueAge);
      const final = await weightsInPytorchLayout(state);
      for (const name of ['queue.keys', 'queue.written_at', 'queue.pointer']) expectClose(`${name} after 6 steps`, final.get(name)!, decode(fixture.reference.final[name]!), 10 * tolerance.rtol);
      tf.dispose([view1, view2]);
      disposeTrainState(state);
    });
  });
}
