import { describe, expect, it } from 'vitest';
import { mean, median, percentile, round, t95, variance, welchDifference } from './stats';

describe('statistics', () => {
  it('median of odd and even counts, unsorted input left as it was', () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(sorted, 95)).toBe(19);
    expect(percentile(sorted, 50)).toBe(10);
    expect(percentile(sorted, 100)).toBe(20);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('mean and round', () => {
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNaN();
    expect(round(2.345, 2)).toBe(2.35);
    expect(round(16.66)).toBe(16.7);
  });

  it("Student's t quantile: the table to 30 degrees of freedom, within 0.002 of the exact value beyond", () => {
    expect(t95(1)).toBe(12.706);
    expect(t95(3.32)).toBe(3.182); // rounded down: the wider interval
    // scipy.stats.t.ppf(0.975, df)
    for (const [df, exact] of [[40, 2.02108], [60, 2.0003], [120, 1.97993], [1000, 1.96234]] as const) expect(Math.abs(t95(df) - exact)).toBeLessThan(0.002);
    expect(t95(0.5)).toBeNaN();
  });

  it("Welch's difference of two sets of runs, as scipy's ttest_ind(equal_var=False) reads it", () => {
    const a = [3.063, 3.112, 3.023];
    const b = [3.27, 3.341, 3.196];
    const w = welchDifference(a, b);
    expect(w.difference).toBeCloseTo(-0.203, 10);
    expect(w.se).toBeCloseTo(0.049139257896987684, 12);
    expect(w.df).toBeCloseTo(3.3228960109127907, 10);
    expect(w.difference / w.se).toBeCloseTo(-4.13111651839667, 9); // scipy's statistic
    expect(w.ci95[0]).toBeCloseTo(-0.203 - 3.182 * w.se, 10);
    expect(w.ci95[1]).toBeCloseTo(-0.203 + 3.182 * w.se, 10);
    expect(variance([1])).toBeNaN();
    expect(welchDifference([1], [2, 3]).se).toBeNaN();
  });
});
