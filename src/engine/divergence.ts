// When a step's gradients count as exploding: far above the run's own recent gradient norms. Pure.
//
// A fixed threshold cannot work across encoders, widths and batch sizes (norms differ by orders of magnitude between
// them), so the limit is relative: EXPLODING_FACTOR times the median norm of the last EXPLODING_WINDOW applied steps.
// Healthy SimCLR runs move within about a factor of 10 from step to step (early steps are the largest); a jump of 100×
// is a divergence in the making, caught before its update lands, and usually before the loss turns NaN.

/** How many times the recent median a gradient norm may be before the step counts as exploding. */
export const EXPLODING_FACTOR = 100;
/** Applied steps whose norms make the median. */
export const EXPLODING_WINDOW = 50;
/** Below this many applied steps there is no limit yet: the first steps set the scale. */
export const EXPLODING_MIN_STEPS = 10;

/** What the limit reads from each recorded step. Old checkpoints' steps have no gradNorm: they are left out. */
export interface NormRecord {
  finite: boolean;
  gradNorm?: number;
  exploding?: boolean;
}

/** The median gradient norm of the last applied steps, or undefined while there are too few of them. */
export function recentGradNorm(steps: readonly NormRecord[]): number | undefined {
  const norms: number[] = [];
  for (let i = steps.length - 1; i >= 0 && norms.length < EXPLODING_WINDOW; i--) {
    const { finite, gradNorm, exploding } = steps[i]!;
    if (finite && !exploding && typeof gradNorm === 'number' && Number.isFinite(gradNorm)) norms.push(gradNorm);
  }
  if (norms.length < EXPLODING_MIN_STEPS) return undefined;
  norms.sort((a, b) => a - b);
  const mid = norms.length >> 1;
  return norms.length % 2 ? norms[mid]! : (norms[mid - 1]! + norms[mid]!) / 2;
}

/** The largest gradient norm the next step may have, or undefined while the run has too few steps to judge. */
export function explodingLimit(steps: readonly NormRecord[]): number | undefined {
  const median = recentGradNorm(steps);
  return median === undefined ? undefined : EXPLODING_FACTOR * median;
}
