import { describe, expect, it } from 'vitest';
import { stepReport } from '../../src/test/stepReport';
import type { StepReport } from '../../src/worker/protocol';
import { achievedRate, diagnosticsText, stepLine, stepRecord, summariseSteps } from './runs';

/** Step n of a 5-step run whose loss falls by 0.1 a step, taking stepMs at batch 16, 70 % of it forward + backward. */
function step(n: number, stepMs: number, extra: Partial<StepReport> = {}): StepReport {
  return stepReport(n, {
    loss: 4 - n / 10,
    methodLoss: 4 - n / 10,
    diagnostics: { contrastiveAcc: n / 100 },
    timings: { augmentMs: stepMs / 10, forwardBackwardMs: (stepMs * 7) / 10, gradNormMs: stepMs / 10, updateMs: stepMs / 10 },
    imagesPerSec: (16 * 1000) / stepMs,
    stepMs,
    totalSteps: 5,
    memory: { numTensors: 78, gpuBytes: 1000 },
    ...extra,
  });
}

describe('summariseSteps', () => {
  it('takes steady medians after the warm-up steps, and the last step for the final figures', () => {
    const reports = [step(1, 9000), step(2, 2000), step(3, 1000), step(4, 3000), step(5, 2000)];
    const s = summariseSteps(reports, 1);
    expect(s).toMatchObject({
      steps: 5,
      final_loss: 3.5,
      final_contrastive_acc: 0.05,
      warmup_steps: 1,
      steady_steps: 4,
      step_ms_median: 2000,
      images_per_sec: 8,
      first_step_ms: 9000,
      augment_ms_median: 200,
      forward_backward_ms_median: 1400,
      grad_norm_ms_median: 200,
      update_ms_median: 200,
      tensors_after_warmup: 78,
      tensors_after_run: 78,
      memory_flat: true,
    });
  });

  it('flags memory that grew between the end of the warm-up and the end of the run', () => {
    const reports = [step(1, 1000), step(2, 1000), step(3, 1000, { memory: { numTensors: 80, gpuBytes: 1000 } })];
    expect(summariseSteps(reports, 1)).toMatchObject({ tensors_after_warmup: 78, tensors_after_run: 80, memory_flat: false });
    const bytes = [step(1, 1000), step(2, 1000, { memory: { numTensors: 78, gpuBytes: 2048 } })];
    expect(summariseSteps(bytes, 1).memory_flat).toBe(false);
  });

  it('counts every step when the warm-up would leave none, and has no split for unprofiled steps', () => {
    const reports = [step(1, 1000, { timings: null }), step(2, 3000, { timings: null })];
    const s = summariseSteps(reports, 5);
    expect(s.warmup_steps).toBe(1);
    expect(s.steady_steps).toBe(1);
    expect(summariseSteps(reports, 0)).toMatchObject({ warmup_steps: 0, steady_steps: 2, step_ms_median: 2000, augment_ms_median: null });
    expect(() => summariseSteps([], 1)).toThrow('no step');
  });
});

describe('step output', () => {
  it('one line for people, one record for programs', () => {
    const r = step(3, 2500);
    expect(stepLine(r)).toBe('step 3/5  loss 3.7000  contrastive accuracy 3.0%  6.4 images/s  2.50 s/step');
    expect(stepLine({ ...r, finite: false })).toContain('update skipped');
    expect(stepRecord(r)).toMatchObject({ kind: 'step', step: 3, total_steps: 5, images_per_sec: 6.4, step_ms: 2500, tensors: 78, gpu_bytes: 1000, timings_ms: { augment: 250 } });
    expect(JSON.parse(JSON.stringify(stepRecord({ ...r, timings: null }))).timings_ms).toBeNull();
  });

  it("names each method's own diagnostics (MoCo's positive accuracy and queue age), not SimCLR's", () => {
    expect(diagnosticsText({ positiveAcc: 0.188, queueAge: 2 })).toBe('  positive accuracy 18.8%  queue age (steps) 2.0000');
    expect(stepLine(step(2, 1000, { diagnostics: { positiveAcc: 0.5, queueAge: 2 } }))).toContain('loss 3.8000  positive accuracy 50.0%  queue age (steps) 2.0000');
  });
});

describe('achievedRate', () => {
  it('FLOP/s of a step and its share of the reference', () => {
    expect(achievedRate({ flopsPerStep: 2e9 }, 500, 8e9)).toEqual({ flopsPerSec: 4e9, fraction: 0.5 });
    expect(achievedRate({ flopsPerStep: 2e9 }, 500, null).fraction).toBeNull();
  });
});
