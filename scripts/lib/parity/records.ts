// What one parity run leaves (a record per trainer, set, seed and length), and how the records add up to the table:
// per set and run length, each trainer's kNN at the evaluated steps over the seeds, the smoothed loss and the
// differences tabclr − reference that the acceptance reads. Pure, so that the arithmetic is unit-tested.
import { mean, variance, welchDifference } from '../stats';

/** Who trained: the PyTorch reference, tabclr's engine in Node, or tabclr's page in headless Chromium. */
export type Trainer = 'reference' | 'engine' | 'page';

export interface RunRecord {
  kind: 'run';
  trainer: Trainer;
  set: string;
  seed: number;
  steps: number;
  /** kNN accuracy (test folder against the train folder, k = 20, weighted) at each evaluated step; 0 = untrained. */
  knn_at_step: Record<string, number>;
  knn_raw_pixels: number;
  /** Mean loss of each window of 10 steps, at its last step (10, 20, …). */
  loss_curve: Record<string, number>;
  /** Mean NT-Xent of the last 10 steps: the smoothed loss at the end. */
  loss_last10: number;
  seconds: number;
  /** What ran: backend for the page, torch version for the reference. */
  detail: string;
}

/** Window means of 10 steps, keyed by the window's last step; a last partial window is left out. */
export function lossCurve(losses: number[], window = 10): Record<string, number> {
  const out: Record<string, number> = {};
  for (let end = window; end <= losses.length; end += window) out[String(end)] = round4(mean(losses.slice(end - window, end)));
  return out;
}

const round4 = (x: number) => Number(x.toFixed(4));

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function sd(values: number[]): number {
  return values.length < 2 ? 0 : Math.sqrt(variance(values));
}

export interface SideSummary {
  trainer: Trainer;
  seeds: number[];
  /** Per evaluated step: the values in seed order, their mean and sd. */
  knn: Record<string, { values: number[]; mean: number; sd: number }>;
  loss_last10: { values: number[]; mean: number; sd: number };
  raw_pixels: number;
}

/** The records of one trainer on one set and run length, over the seeds asked for (those that have a record). */
export function summarise(records: RunRecord[], trainer: Trainer, set: string, steps: number, seeds: number[]): SideSummary | null {
  const mine = seeds
    .map((seed) => records.find((r) => r.trainer === trainer && r.set === set && r.steps === steps && r.seed === seed))
    .filter((r): r is RunRecord => r !== undefined);
  if (mine.length === 0) return null;
  const evaluated = [...new Set(mine.flatMap((r) => Object.keys(r.knn_at_step)))].sort((a, b) => Number(a) - Number(b));
  const knn: SideSummary['knn'] = {};
  for (const step of evaluated) {
    const values = mine.map((r) => r.knn_at_step[step]).filter((v): v is number => v !== undefined);
    if (values.length === mine.length) knn[step] = { values, mean: mean(values), sd: sd(values) };
  }
  const losses = mine.map((r) => r.loss_last10);
  return {
    trainer,
    seeds: mine.map((r) => r.seed),
    knn,
    loss_last10: { values: losses, mean: mean(losses), sd: sd(losses) },
    raw_pixels: mine[0]!.knn_raw_pixels,
  };
}

/**
 * The acceptance's reading: tabclr's mean kNN at the end within `knnPoints` (percentage points) of the reference's,
 * and its smoothed loss within `loss`; with each difference's 95 % interval over the seeds (Welch), because a mean of
 * three seeds moves by about as much as the tolerance itself (one run's smoothed loss has a spread of about 0.1).
 */
export function verdict(tabclr: SideSummary, reference: SideSummary, steps: number, knnPoints = 1.5, loss = 0.1) {
  const t = tabclr.knn[String(steps)];
  const r = reference.knn[String(steps)];
  const knn = t && r ? welchDifference(t.values.map((v) => v * 100), r.values.map((v) => v * 100)) : null;
  const lossDiff = welchDifference(tabclr.loss_last10.values, reference.loss_last10.values);
  const knnGap = knn ? knn.difference : NaN;
  const lossGap = lossDiff.difference;
  return {
    knn_gap_points: knnGap,
    knn_gap_ci95: knn ? knn.ci95 : ([NaN, NaN] as [number, number]),
    loss_gap: lossGap,
    loss_gap_ci95: lossDiff.ci95,
    knn_ok: Math.abs(knnGap) <= knnPoints,
    loss_ok: Math.abs(lossGap) <= loss,
  };
}

/** "−0.203 (95 %: −0.35 to −0.06)": a difference with its interval, as the report prints it. */
export function withInterval(value: number, ci95: [number, number], digits: number): string {
  const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
  return Number.isFinite(ci95[0]) ? `${signed(value)} (95 %: ${signed(ci95[0])} to ${signed(ci95[1])})` : signed(value);
}
