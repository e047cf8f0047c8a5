// A step report for tests that need one but look only at a few of its fields.
import type { StepReport } from '../worker/protocol';

/** A healthy step's report: loss 4, 100 images/s, 100 tensors; `change` sets the fields a test looks at. */
export function stepReport(step: number, change: Partial<StepReport> = {}): StepReport {
  return {
    step,
    loss: 4,
    methodLoss: 4,
    diagnostics: { contrastiveAcc: 0.5 },
    embeddingStd: 0.08,
    entropy: null,
    lr: 1e-3,
    finite: true,
    gradNorm: 1.5,
    exploding: false,
    imagesPerSec: 100,
    stepMs: 50,
    totalSteps: 1000,
    timings: null,
    memory: { numTensors: 100, gpuBytes: 1e6 },
    ...change,
  };
}
