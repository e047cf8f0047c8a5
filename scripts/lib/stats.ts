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
