// How well groups found without labels match the labels: the adjusted Rand index (Hubert & Arabie 1985; 1 for the
// same partition, about 0 for chance) and purity (the share of images in their group's most common class).

function contingency(a: ArrayLike<number>, b: ArrayLike<number>): { table: Map<string, number>; rows: Map<number, number>; columns: Map<number, number> } {
  if (a.length !== b.length) throw new Error(`agreement: ${a.length} groups for ${b.length} labels`);
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const columns = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i]!, (rows.get(a[i]!) ?? 0) + 1);
    columns.set(b[i]!, (columns.get(b[i]!) ?? 0) + 1);
  }
  return { table, rows, columns };
}

const pairs = (n: number) => (n * (n - 1)) / 2;

/** Adjusted Rand index of two labellings of the same items (as scikit-learn's adjusted_rand_score). */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const { table, rows, columns } = contingency(a, b);
  let index = 0;
  for (const count of table.values()) index += pairs(count);
  let rowPairs = 0;
  for (const count of rows.values()) rowPairs += pairs(count);
  let columnPairs = 0;
  for (const count of columns.values()) columnPairs += pairs(count);
  const expected = (rowPairs * columnPairs) / Math.max(1, pairs(n));
  const max = (rowPairs + columnPairs) / 2;
  // One group and one class (or every item alone in both): the partitions are the same.
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/** Share of items whose group's most common label is their own. */
export function purity(groups: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { table } = contingency(groups, labels);
  const best = new Map<number, number>();
  for (const [key, count] of table) {
    const group = Number(key.split(',')[0]);
    best.set(group, Math.max(best.get(group) ?? 0, count));
  }
  let sum = 0;
  for (const count of best.values()) sum += count;
  return groups.length === 0 ? 1 : sum / groups.length;
}
