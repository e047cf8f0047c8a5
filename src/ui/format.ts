// Number formatting for people: fixed digits where the scale is known, engineering notation for tiny errors.

export function fixed(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

export function percent(value: number, digits = 0): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : String(value);
}

export function scientific(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return String(value);
  return value === 0 ? '0' : value.toExponential(digits);
}

/** "45 s", "2 min 10 s", "1 h 05 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return 'under 1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * Similarities with as few decimals (3 to 6) as it takes for them not all to read the same: an encoder early in
 * training puts every image at a cosine above 0.999, where three decimals would show a row of "1.000".
 */
export function similarities(values: readonly number[]): string[] {
  for (let digits = 3; digits < 6; digits++) {
    const texts = values.map((v) => fixed(v, digits));
    if (values.length < 2 || new Set(texts).size > 1) return texts;
  }
  return values.map((v) => fixed(v, 6));
}
