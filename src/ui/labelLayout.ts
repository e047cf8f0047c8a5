// Where the labels of a chart's dashed reference lines go: each beside its own line, and never on top of another.

/**
 * The tops (CSS px from the plot area's top) of labels `height` tall that want to be at `wanted` (any order; the
 * result is in the same order), so that no two overlap (at least `spacing` between them) and, when they fit, all lie
 * within [0, plotHeight]: overlapping labels are pushed down in the order of their wanted tops, then, where that runs
 * past the bottom, back up. Labels keep their order, so each stays next to its line as closely as the others allow.
 */
export function spreadLabels(wanted: readonly number[], height: number, spacing: number, plotHeight: number): number[] {
  const step = height + spacing;
  const order = wanted.map((_, i) => i).sort((a, b) => wanted[a]! - wanted[b]! || a - b);
  const tops = order.map((i) => Math.min(Math.max(wanted[i]!, 0), Math.max(0, plotHeight - height)));
  for (let k = 1; k < tops.length; k++) tops[k] = Math.max(tops[k]!, tops[k - 1]! + step);
  const last = tops.length - 1;
  if (last >= 0) tops[last] = Math.min(tops[last]!, plotHeight - height);
  for (let k = last - 1; k >= 0; k--) tops[k] = Math.min(tops[k]!, tops[k + 1]! - step);
  // More labels than the plot holds: from the top down, overlapping at the bottom rather than above the plot.
  if (tops.length && tops[0]! < 0) for (let k = 0; k < tops.length; k++) tops[k] = k * step;
  const result = new Array<number>(wanted.length);
  order.forEach((i, k) => (result[i] = tops[k]!));
  return result;
}

/** A label's wanted top: just above its line, or just below it when there is no room above. */
export function labelTop(lineY: number, height: number, gap: number): number {
  return lineY - gap - height >= 0 ? lineY - gap - height : lineY + gap;
}
