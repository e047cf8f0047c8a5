import { describe, expect, it } from 'vitest';
import type { StepReport } from '../worker/protocol';
import { noLearningLoss } from '../engine/methods/simclr';
import { assessHealth, COLLAPSE_MIN_STEPS, healthyEmbeddingStd, STD_WINDOW, type HealthContext } from './health';
import { MetricsHistory } from './metricsHistory';

const context: HealthContext = { method: 'simclr', batchSize: 64, projectionDim: 128, warmupSteps: 10, learningRate: 1e-3 };
const level = noLearningLoss(64); // ln 127 ≈ 4.844
const healthyStd = healthyEmbeddingStd(128); // ≈ 0.0884

interface Curve {
  loss(step: number): number;
  std(step: number): number;
}

function run(steps: number, curve: Curve): MetricsHistory {
  const history = new MetricsHistory();
  const reports: StepReport[] = [];
  for (let step = 1; step <= steps; step++) {
    const loss = curve.loss(step);
    reports.push({
      step,
      loss,
      methodLoss: loss,
      diagnostics: { contrastiveAcc: 0.3 },
      embeddingStd: curve.std(step),
      entropy: null,
      lr: 1e-3,
      finite: Number.isFinite(loss),
      gradNorm: 1.5,
      exploding: false,
      imagesPerSec: 200,
      stepMs: 300,
      timings: null,
        memory: { numTensors: 100, gpuBytes: null },
        totalSteps: 1000,
    });
  }
  history.pushMany(reports);
  return history;
}

// A healthy run: the loss falls from the no-learning level towards 2, the std stays near 1/√d.
const healthy: Curve = { loss: (s) => 2 + (level - 2) * Math.exp(-s / 60), std: () => 0.08 };

describe('noLearningLoss and healthyEmbeddingStd', () => {
  it('are ln(2N − 1) and 1/√d', () => {
    expect(noLearningLoss(64)).toBeCloseTo(Math.log(127), 12);
    expect(noLearningLoss(128)).toBeCloseTo(5.541, 3);
    expect(healthyEmbeddingStd(64)).toBe(0.125);
  });
});

describe('assessHealth', () => {
  it('says nothing about an empty or healthy run', () => {
    expect(assessHealth(new MetricsHistory().columns(), context)).toEqual([]);
    for (const steps of [5, 20, 60, 300]) expect(assessHealth(run(steps, healthy).columns(), context)).toEqual([]);
  });

  it('says nothing about the first steps of a run that starts at the no-learning level', () => {
    const flat: Curve = { loss: () => level, std: () => 0.08 };
    expect(assessHealth(run(40, flat).columns(), context)).toEqual([]);
  });

  it('reports divergence when the loss turns NaN', () => {
    const curve: Curve = { loss: (s) => (s > 95 ? NaN : healthy.loss(s)), std: () => 0.08 };
    const warnings = assessHealth(run(100, curve).columns(), context);
    expect(warnings.map((w) => w.kind)).toEqual(['diverged']);
    const [w] = warnings;
    expect(w!.title).toBe('Training diverged: the loss is NaN');
    expect(w!.cause).toContain('5 of the last 20 steps');
    expect(w!.cause).toContain('learning rate (1e-3)');
    expect(w!.cause).toContain('batch 64');
    expect(w!.fix).toContain('1e-4');
    expect(w!.fix).toContain('warm-up (10 steps)');
  });

  it('calls an infinite loss infinite, and suggests a warm-up when there is none', () => {
    const curve: Curve = { loss: (s) => (s === 30 ? Infinity : healthy.loss(s)), std: () => 0.08 };
    const [w] = assessHealth(run(30, curve).columns(), { ...context, warmupSteps: 0, learningRate: 0.3 });
    expect(w!.kind).toBe('diverged');
    expect(w!.title).toBe('Training diverged: the loss is infinite');
    expect(w!.fix).toContain('0.03');
    expect(w!.fix).toContain('add a linear warm-up');
  });

  it('forgets a NaN that is more than 20 steps old', () => {
    const curve: Curve = { loss: (s) => (s === 50 ? NaN : healthy.loss(s)), std: () => 0.08 };
    expect(assessHealth(run(70, curve).columns(), context)).toEqual([]);
    expect(assessHealth(run(69, curve).columns(), context).map((w) => w.kind)).toEqual(['diverged']);
  });

  it('reports collapse: loss at ln(2N − 1) and the std near 0, after warm-up', () => {
    // Learns a little, then collapses: the loss climbs back to the no-learning level, the std drops.
    const curve: Curve = {
      loss: (s) => (s < 40 ? level - 0.5 : level + 0.001),
      std: (s) => (s < 40 ? 0.08 : 0.002),
    };
    const warnings = assessHealth(run(200, curve).columns(), context);
    expect(warnings.map((w) => w.kind)).toEqual(['collapsed']);
    const [w] = warnings;
    expect(w!.title).toBe('The embeddings have collapsed');
    expect(w!.cause).toContain('4.84');
    expect(w!.cause).toContain('batch 64');
    expect(w!.cause).toContain('0.0884');
    expect(w!.fix).toContain('1e-4');
    expect(w!.fix).toContain('temperature');
  });

  it('does not report collapse during warm-up or before COLLAPSE_MIN_STEPS steps', () => {
    const collapsedCurve: Curve = { loss: () => level, std: () => 0.001 };
    const noWarmup = { ...context, warmupSteps: 0 };
    expect(assessHealth(run(COLLAPSE_MIN_STEPS - 1, collapsedCurve).columns(), noWarmup)).toEqual([]);
    expect(assessHealth(run(COLLAPSE_MIN_STEPS, collapsedCurve).columns(), noWarmup).map((w) => w.kind)).toEqual(['collapsed']);
    expect(assessHealth(run(30, collapsedCurve).columns(), { ...context, warmupSteps: 30 })).toEqual([]);
    expect(assessHealth(run(31, collapsedCurve).columns(), { ...context, warmupSteps: 30 }).map((w) => w.kind)).toEqual(['collapsed']);
  });

  it('calls a collapse within a few steps of it happening, not when the average catches up', () => {
    // Learning well for 100 steps, then every embedding at one point from step 101.
    const curve: Curve = { loss: (s) => (s <= 100 ? level * 0.5 : level), std: (s) => (s <= 100 ? healthyStd : 0) };
    expect(assessHealth(run(100 + STD_WINDOW, curve).columns(), context).map((w) => w.kind)).toEqual(['collapsed']);
  });

  it('does not call a low std collapse when the loss is falling', () => {
    const curve: Curve = { loss: healthy.loss, std: () => 0.001 };
    expect(assessHealth(run(200, curve).columns(), context)).toEqual([]);
  });

  it('reports a stuck run: loss at ln(2N − 1) with a healthy std after max(50, 2·warm-up) steps', () => {
    const curve: Curve = { loss: (s) => level * (1 - 0.005 * Math.sin(s)), std: () => healthyStd };
    expect(assessHealth(run(49, curve).columns(), context)).toEqual([]);
    const warnings = assessHealth(run(50, curve).columns(), context);
    expect(warnings.map((w) => w.kind)).toEqual(['stuck']);
    const [w] = warnings;
    expect(w!.title).toBe('Nothing is being learnt yet');
    expect(w!.cause).toMatch(/After 50 steps the loss is still 4\.8\d, the no-learning level at batch 64 \(ln 127 = 4\.84\)/);
    expect(w!.fix).toContain('3e-3');
    // A long warm-up pushes the check back.
    expect(assessHealth(run(150, curve).columns(), { ...context, warmupSteps: 100 })).toEqual([]);
    expect(assessHealth(run(200, curve).columns(), { ...context, warmupSteps: 100 }).map((w) => w.kind)).toEqual(['stuck']);
  });

  it('does not call a run stuck whose held-out accuracy rose 5 points above the untrained encoder\'s', () => {
    const curve: Curve = { loss: (s) => level * (1 - 0.005 * Math.sin(s)), std: () => healthyStd };
    const columns = run(50, curve).columns();
    // kNN from 33 % to 50 %, as the software adapter's default run on the sample went.
    expect(assessHealth(columns, context, { knn: 0.5, knnUntrained: 0.333, probe: null, probeUntrained: null })).toEqual([]);
    // The linear probe alone is enough.
    expect(assessHealth(columns, context, { knn: 0.34, knnUntrained: 0.333, probe: 0.6, probeUntrained: 0.5 })).toEqual([]);
    // Less than 5 points, or no untrained figure yet: the loss decides.
    for (const heldOut of [
      { knn: 0.36, knnUntrained: 0.333, probe: 0.52, probeUntrained: 0.5 },
      { knn: 0.9, knnUntrained: null, probe: 0.9, probeUntrained: null },
      null,
    ]) {
      expect(assessHealth(columns, context, heldOut).map((w) => w.kind)).toEqual(['stuck']);
    }
  });

  it('does not call a run stuck once the loss has moved below 0.98·ln(2N − 1)', () => {
    const curve: Curve = { loss: (s) => (s < 30 ? level : level * 0.95), std: () => healthyStd };
    expect(assessHealth(run(100, curve).columns(), context)).toEqual([]);
  });

  it('judges by NT-Xent, not by the objective the entropy term lowers', () => {
    const history = new MetricsHistory();
    for (let step = 1; step <= 100; step++) {
      history.push({
        step,
        loss: level - 1, // objective = NT-Xent − λ·H
        methodLoss: level,
        diagnostics: { contrastiveAcc: 0.01 },
        embeddingStd: healthyStd,
        entropy: 1,
        lr: 1e-3,
        finite: true,
        gradNorm: 1.5,
        exploding: false,
        imagesPerSec: 1,
        stepMs: 1,
        totalSteps: 100,
      });
    }
    expect(assessHealth(history.columns(), context).map((w) => w.kind)).toEqual(['stuck']);
  });
});

describe('assessHealth by the run\'s method', () => {
  it('BYOL: a loss at 0 with the spread gone is its collapse, with BYOL\'s advice; near 0 with a healthy spread it is learning', () => {
    const byol: HealthContext = { ...context, method: 'byol' };
    const collapsing: Curve = { loss: (s) => Math.max(0, 2 - s / 10), std: (s) => (s < 30 ? 0.08 : 0.001) };
    const warnings = assessHealth(run(60, collapsing).columns(), byol);
    expect(warnings.map((w) => w.kind)).toEqual(['collapsed']);
    // BYOL's 0 does not depend on the batch, so the message names none.
    expect(warnings[0]!.cause).toContain("BYOL's level for a collapse (0), and the embedding spread");
    expect(warnings[0]!.fix).toContain('target momentum');
    const learning: Curve = { loss: (s) => Math.max(0.01, 2 - s / 10), std: () => 0.08 };
    expect(assessHealth(run(60, learning).columns(), byol)).toEqual([]);
  });

  it('BYOL has no no-learning level: a flat loss is not called stuck, and SimCLR\'s level means nothing to it', () => {
    const flat: Curve = { loss: () => level, std: () => healthyStd };
    expect(assessHealth(run(200, flat).columns(), context).map((w) => w.kind)).toEqual(['stuck']);
    expect(assessHealth(run(200, flat).columns(), { ...context, method: 'byol' })).toEqual([]);
  });

  it("MoCo: judged against ln(K + 1) for the run's queue size, not the batch's level, with MoCo's own advice", () => {
    const moco: HealthContext = { ...context, method: 'moco', settings: { temperature: 0.2, queueSize: 1023, keyMomentum: 0.99, bnGroups: 2 } };
    const atQueueLevel: Curve = { loss: () => Math.log(1024), std: () => healthyStd };
    const warnings = assessHealth(run(200, atQueueLevel).columns(), moco);
    expect(warnings.map((w) => w.kind)).toEqual(['stuck']);
    expect(warnings[0]!.cause).toContain('(ln 1024 = 6.93)');
    expect(warnings[0]!.fix).toContain('a lower key momentum');
    // SimCLR's level at this batch (ln 127) is far below ln 1024: a MoCo loss there is learning.
    expect(assessHealth(run(200, { loss: () => level, std: () => healthyStd }).columns(), moco)).toEqual([]);
    const collapsing: Curve = { loss: () => Math.log(1024), std: (s) => (s < 30 ? healthyStd : 0.001) };
    const collapse = assessHealth(run(60, collapsing).columns(), moco);
    expect(collapse.map((w) => w.kind)).toEqual(['collapsed']);
    expect(collapse[0]!.fix).toContain('shuffled batch norm');
  });

  it('MoCo: the messages name the queue its level counts, never the batch (ln(K + 1) does not depend on it)', () => {
    const moco: HealthContext = { ...context, method: 'moco', batchSize: 16, settings: { temperature: 0.2, queueSize: 4096, keyMomentum: 0.99, bnGroups: 2 } };
    const [stuckWarning] = assessHealth(run(200, { loss: () => Math.log(4097), std: () => healthyStd }).columns(), moco);
    expect(stuckWarning!.cause).toMatch(
      /^After 200 steps the loss is still 8\.32, the no-learning level with a queue of 4,096 keys \(ln 4097 = 8\.32\), although the embeddings are spread out .*: the encoder cannot yet tell a view’s own key from the queue’s\. /,
    );
    const [collapseWarning] = assessHealth(run(60, { loss: () => Math.log(4097), std: (s) => (s < 30 ? healthyStd : 0.001) }).columns(), moco);
    expect(collapseWarning!.cause).toMatch(/^The loss has stayed at 8\.32, MoCo v2's level for a collapse with a queue of 4,096 keys \(ln 4097 = 8\.32\), and the embedding spread/);
    for (const w of [stuckWarning!, collapseWarning!]) expect(w.cause).not.toContain('batch');
  });
});
