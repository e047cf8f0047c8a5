import { describe, expect, it, vi } from 'vitest';
import { stepReport } from '../test/stepReport';
import { DebiasedEma, MetricsHistory, etaSeconds, subscribePerFrame } from './metricsHistory';

describe('MetricsHistory', () => {
  it('grows past its initial capacity and keeps every value', () => {
    const history = new MetricsHistory();
    const n = 5000; // initial capacity is 1024: grows three times
    for (let step = 1; step <= n; step++) history.push(stepReport(step, { loss: step / 1000, lr: step }));
    const c = history.columns();
    expect(history.length).toBe(n);
    expect(c.length).toBe(n);
    expect(c.step.length).toBe(n);
    expect(c.finite.length).toBe(n);
    expect(c.step[0]).toBe(1);
    expect(c.step[n - 1]).toBe(n);
    expect(c.loss[1023]).toBeCloseTo(1.024);
    expect(c.loss[1024]).toBeCloseTo(1.025);
    expect(c.lr[4999]).toBe(5000);
    expect(Array.from(c.step.subarray(1020, 1030))).toEqual([1021, 1022, 1023, 1024, 1025, 1026, 1027, 1028, 1029, 1030]);
  });

  it('columns() are views, not copies', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1));
    const a = history.columns();
    const b = history.columns();
    expect(a.loss.buffer).toBe(b.loss.buffer);
  });

  it('smooths the loss with a debiased EMA (alpha 0.05): hand-checked values', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1, { loss: 4, methodLoss: 4 }));
    history.push(stepReport(2, { loss: 2, methodLoss: 2 }));
    history.push(stepReport(3, { loss: 3, methodLoss: 3 }));
    const { lossSmoothed, methodLossSmoothed } = history.columns();
    // Step 1: 0.05·4 / (1 − 0.95) = 4, the first value itself.
    expect(lossSmoothed[0]).toBeCloseTo(4, 12);
    // Step 2: (0.95·0.2 + 0.05·2) / (1 − 0.95²) = 0.29 / 0.0975.
    expect(lossSmoothed[1]).toBeCloseTo(0.29 / 0.0975, 12);
    expect(lossSmoothed[1]).toBeCloseTo(2.974359, 6);
    // Step 3: (0.95·0.29 + 0.05·3) / (1 − 0.95³) = 0.4255 / 0.142625.
    expect(lossSmoothed[2]).toBeCloseTo(0.4255 / 0.142625, 12);
    expect(Array.from(methodLossSmoothed)).toEqual(Array.from(lossSmoothed));
  });

  it('a constant loss smooths to itself', () => {
    const ema = new DebiasedEma(0.05);
    for (let i = 0; i < 100; i++) expect(ema.add(3.21)).toBeCloseTo(3.21, 12);
  });

  it('a NaN or infinite loss does not poison the smoothed loss, and is flagged', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1, { loss: 4, methodLoss: 4 }));
    history.push(stepReport(2, { loss: NaN, methodLoss: NaN, finite: false }));
    history.push(stepReport(3, { loss: Infinity, methodLoss: Infinity, finite: false }));
    history.push(stepReport(4, { loss: 2, methodLoss: 2 }));
    const c = history.columns();
    expect(Array.from(c.finite)).toEqual([1, 0, 0, 1]);
    expect(Number.isNaN(c.loss[1])).toBe(true);
    expect(c.loss[2]).toBe(Infinity);
    expect(c.lossSmoothed[1]).toBeCloseTo(4, 12); // carried over
    expect(c.lossSmoothed[2]).toBe(c.lossSmoothed[0]);
    // Step 4 is the second finite value: as if the bad steps were not there.
    expect(c.lossSmoothed[3]).toBeCloseTo(0.29 / 0.0975, 12);
  });

  it('a smoothed loss is NaN until the first finite value', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1, { loss: NaN, methodLoss: NaN, finite: false }));
    history.push(stepReport(2, { loss: 3, methodLoss: 3 }));
    const c = history.columns();
    expect(Number.isNaN(c.lossSmoothed[0])).toBe(true);
    expect(c.lossSmoothed[1]).toBeCloseTo(3, 12);
  });

  it('notifies subscribers once per push and once per pushMany; unsubscribe stops it', () => {
    const history = new MetricsHistory();
    const listener = vi.fn();
    const unsubscribe = history.subscribe(listener);
    history.push(stepReport(1));
    expect(listener).toHaveBeenCalledTimes(1);
    history.pushMany([stepReport(2), stepReport(3), stepReport(4)]);
    expect(listener).toHaveBeenCalledTimes(2);
    expect(history.length).toBe(4);
    history.pushMany([]);
    expect(listener).toHaveBeenCalledTimes(2);
    history.pushKnn(4, 0.6);
    history.setBaselines({ rawPixels: 0.75 });
    expect(listener).toHaveBeenCalledTimes(4);
    unsubscribe();
    history.push(stepReport(5));
    history.clear();
    expect(listener).toHaveBeenCalledTimes(4);
  });

  it('clear() empties steps and kNN points but keeps the baselines', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1));
    history.pushKnn(1, 0.5);
    history.setBaselines({ randomInit: 0.62, rawPixels: 0.75 });
    history.clear();
    expect(history.length).toBe(0);
    expect(history.columns().loss.length).toBe(0);
    expect(history.knnColumns().length).toBe(0);
    expect(history.baselines).toEqual({ randomInit: 0.62, rawPixels: 0.75, probeRandomInit: null, probeRawPixels: null });
    history.push(stepReport(1, { loss: 2, methodLoss: 2 }));
    expect(history.columns().lossSmoothed[0]).toBeCloseTo(2, 12); // the EMA starts afresh
  });

  it('a step that does not follow the last one starts a new run', () => {
    const history = new MetricsHistory();
    for (let step = 1; step <= 5; step++) history.push(stepReport(step, { loss: 9, methodLoss: 9 }));
    history.pushKnn(5, 0.5);
    history.push(stepReport(1, { loss: 3, methodLoss: 3 }));
    expect(history.length).toBe(1);
    expect(history.knnColumns().length).toBe(0);
    expect(history.columns().lossSmoothed[0]).toBeCloseTo(3, 12);
  });

  it('keeps kNN points in their own growable columns', () => {
    const history = new MetricsHistory();
    for (let i = 0; i < 200; i++) history.pushKnn(i * 10, i / 200);
    const knn = history.knnColumns();
    expect(knn.length).toBe(200);
    expect(knn.step[199]).toBe(1990);
    expect(knn.accuracy[100]).toBeCloseTo(0.5);
  });

  it('keeps evaluations in step order: the untrained encoder\'s (step 0) may arrive after the first steps\' ones', () => {
    const history = new MetricsHistory();
    history.pushKnn(2, 0.4, 0.45);
    history.pushKnn(4, 0.5);
    history.pushKnn(0, 0.3, 0.35);
    history.pushKnn(3, 0.45, 0.5);
    const knn = history.knnColumns();
    expect(Array.from(knn.step)).toEqual([0, 2, 3, 4]);
    expect(Array.from(knn.accuracy)).toEqual([0.3, 0.4, 0.45, 0.5]);
    // The probe's accuracy travels with its point; NaN where it was not measured.
    expect(Array.from(knn.probe)).toEqual([0.35, 0.45, 0.5, NaN]);
  });

  it('records whether the entropy term is on', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1));
    expect(history.hasEntropyTerm).toBe(false);
    history.push(stepReport(2, { entropy: 1.2, loss: 3.5, methodLoss: 4 }));
    expect(history.hasEntropyTerm).toBe(true);
  });
});

describe('etaSeconds', () => {
  it('is null with no steps, 0 when done', () => {
    const history = new MetricsHistory();
    expect(etaSeconds(history, 100)).toBeNull();
    history.push(stepReport(100));
    expect(etaSeconds(history, 100)).toBe(0);
  });

  it('uses the median step time of the last 20 steps', () => {
    const history = new MetricsHistory();
    // A slow first step (pipeline compilation) and older slow steps must not count.
    history.push(stepReport(1, { stepMs: 30_000 }));
    for (let step = 2; step <= 30; step++) history.push(stepReport(step, { stepMs: step <= 10 ? 500 : 100 }));
    // Last 20 steps are 11..30 at 100 ms, with one outlier.
    history.push(stepReport(31, { stepMs: 5000 }));
    expect(etaSeconds(history, 131)).toBeCloseTo(10, 9); // 100 steps × 100 ms
  });

  it('takes the mean of the middle two for an even count', () => {
    const history = new MetricsHistory();
    history.push(stepReport(1, { stepMs: 100 }));
    history.push(stepReport(2, { stepMs: 300 }));
    expect(etaSeconds(history, 12)).toBeCloseTo(2, 9); // 10 steps × 200 ms
  });
});

describe('subscribePerFrame', () => {
  it('coalesces many pushes into one call per frame and cancels on unsubscribe', () => {
    const history = new MetricsHistory();
    const frames: Array<() => void> = [];
    const schedule = (callback: () => void) => {
      frames.push(callback);
      return () => frames.splice(frames.indexOf(callback), 1);
    };
    const listener = vi.fn();
    const unsubscribe = subscribePerFrame(history, listener, schedule);
    history.push(stepReport(1));
    history.push(stepReport(2));
    history.push(stepReport(3));
    expect(frames.length).toBe(1);
    expect(listener).not.toHaveBeenCalled();
    frames.shift()!();
    expect(listener).toHaveBeenCalledTimes(1);
    history.push(stepReport(4));
    expect(frames.length).toBe(1);
    unsubscribe();
    expect(frames.length).toBe(0);
    history.push(stepReport(5));
    expect(frames.length).toBe(0);
    expect(listener).toHaveBeenCalledTimes(1);
  });
});
