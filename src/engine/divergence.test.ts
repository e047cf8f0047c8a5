import { describe, expect, it } from 'vitest';
import { EXPLODING_FACTOR, EXPLODING_MIN_STEPS, EXPLODING_WINDOW, explodingLimit, recentGradNorm, type NormRecord } from './divergence';

const applied = (gradNorm: number): NormRecord => ({ finite: true, gradNorm, exploding: false });

describe('explodingLimit', () => {
  it('sets no limit until enough applied steps have set the scale', () => {
    const steps = Array.from({ length: EXPLODING_MIN_STEPS - 1 }, () => applied(2));
    expect(explodingLimit(steps)).toBeUndefined();
    expect(explodingLimit([...steps, applied(2)])).toBe(EXPLODING_FACTOR * 2);
  });

  it('is the factor times the median of the last window of applied steps', () => {
    // 100 old steps at norm 1000, then a window's worth of norms 1..50: only the window counts.
    const steps = [...Array.from({ length: 100 }, () => applied(1000)), ...Array.from({ length: EXPLODING_WINDOW }, (_, i) => applied(i + 1))];
    expect(recentGradNorm(steps)).toBe(25.5);
    expect(explodingLimit(steps)).toBe(EXPLODING_FACTOR * 25.5);
  });

  it('a single large norm does not move the median: one spike cannot raise the limit for the next', () => {
    const steps = [...Array.from({ length: 20 }, () => applied(3)), applied(250)];
    expect(recentGradNorm(steps)).toBe(3);
  });

  it('leaves out skipped steps and steps recorded before gradient norms were (old checkpoints)', () => {
    const steps: NormRecord[] = [
      ...Array.from({ length: EXPLODING_MIN_STEPS }, () => ({ finite: true })),
      ...Array.from({ length: EXPLODING_MIN_STEPS - 1 }, () => applied(4)),
      { finite: false, gradNorm: NaN },
      { finite: true, gradNorm: 1e9, exploding: true },
    ];
    expect(explodingLimit(steps)).toBeUndefined();
    expect(recentGradNorm([...steps, applied(4)])).toBe(4);
  });
});
