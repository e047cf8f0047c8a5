import { describe, expect, it } from 'vitest';
import { lossCurve, sd, summarise, verdict, withInterval, type RunRecord } from './records';

const record = (trainer: RunRecord['trainer'], seed: number, knn: Record<string, number>, loss: number): RunRecord => ({
  kind: 'run',
  trainer,
  set: 'fm',
  seed,
  steps: 150,
  knn_at_step: knn,
  knn_raw_pixels: 0.779,
  loss_curve: {},
  loss_last10: loss,
  seconds: 1,
  detail: '',
});

describe('parity records', () => {
  it('smooths the loss over windows of 10 steps, leaving out a last partial window', () => {
    const losses = Array.from({ length: 25 }, (_, i) => i);
    expect(lossCurve(losses)).toEqual({ '10': 4.5, '20': 14.5 });
  });

  it('summarises a trainer over the seeds asked for, and reads the gaps the acceptance asks about', () => {
    const records = [
      record('reference', 0, { '0': 0.7, '150': 0.73 }, 3.2),
      record('reference', 1, { '0': 0.7, '150': 0.75 }, 3.3),
      record('page', 0, { '0': 0.72, '150': 0.72 }, 3.25),
      record('page', 1, { '0': 0.71, '150': 0.74 }, 3.45),
      record('page', 2, { '0': 0.71, '150': 0.99 }, 9),
    ];
    const reference = summarise(records, 'reference', 'fm', 150, [0, 1])!;
    const page = summarise(records, 'page', 'fm', 150, [0, 1])!;
    expect(reference.knn['150']!.mean).toBeCloseTo(0.74, 10);
    expect(reference.knn['150']!.sd).toBeCloseTo(sd([0.73, 0.75]), 10);
    expect(page.seeds).toEqual([0, 1]);
    const v = verdict(page, reference, 150);
    expect(v.knn_gap_points).toBeCloseTo(-1, 10);
    expect(v.loss_gap).toBeCloseTo(0.1, 10);
    expect(v.knn_ok).toBe(true);
    // Two seeds a side: one degree of freedom or so, so the intervals are wide and contain the difference.
    expect(v.knn_gap_ci95[0]).toBeLessThan(-1);
    expect(v.knn_gap_ci95[1]).toBeGreaterThan(-1);
    expect(v.loss_gap_ci95[0]).toBeLessThan(0.1);
    expect(v.loss_gap_ci95[1]).toBeGreaterThan(0.1);
    expect(withInterval(-0.203, [-0.3594, -0.0466], 3)).toBe('−0.203 (95 %: −0.359 to −0.047)');
    expect(withInterval(1.5, [NaN, NaN], 2)).toBe('+1.50');
    expect(summarise(records, 'engine', 'fm', 150, [0, 1])).toBeNull();
  });
});
