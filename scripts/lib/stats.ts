// Summary statistics the benchmarks report. Pure.

/** The median (the mean of the middle two for an even count); NaN for no values. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile p (0–100] of values sorted ascending: the smallest value with at least p % at or below it. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** x rounded to `digits` decimals, as a number (for reports and JSON). */
export const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** Two-sided 97.5 % quantiles of Student's t for 1–30 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t such that 95 % of Student's t with `df` degrees of freedom lies within ±t; df rounded down (the wider interval). */
export function t95(df: number): number {
  if (!(df >= 1)) return NaN;
  const whole = Math.floor(df);
  return whole <= 30 ? T975[whole - 1]! : 1.96 + 2.5 / whole; // within 0.002 of the exact value above 30
}

/**
 * mean(a) − mean(b) with Welch's standard error and 95 % interval (unequal variances; Welch–Satterthwaite degrees of
 * freedom): how far two sets of seeded runs differ, and how sure that is. NaN where a side has fewer than two values.
 */
export function welchDifference(a: number[], b: number[]): { difference: number; se: number; df: number; ci95: [number, number] } {
  const difference = mean(a) - mean(b);
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / ((a.length > 1 ? va ** 2 / (a.length - 1) : NaN) + (b.length > 1 ? vb ** 2 / (b.length - 1) : NaN));
  const half = t95(df) * se;
  return { difference, se, df, ci95: [difference - half, difference + half] };
}

/** Sample variance (n − 1); NaN for fewer than two values. */
export function variance(values: number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  return values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1);
}
