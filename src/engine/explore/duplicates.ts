// Near-duplicates: images closer than a threshold, joined into groups (a chain of close pairs is one group), from
// each image's nearest neighbours. The grouping is pure and fast, so that a slider can move the threshold live.
import type { Neighbours } from './topk';

/** Disjoint sets with path halving and union by size. */
export class UnionFind {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;

  constructor(count: number) {
    this.parent = Int32Array.from({ length: count }, (_, i) => i);
    this.size = new Int32Array(count).fill(1);
  }

  find(x: number): number {
    const parent = this.parent;
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  }

  union(a: number, b: number): boolean {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return false;
    if (this.size[ra]! < this.size[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] = this.size[ra]! + this.size[rb]!;
    return true;
  }
}

/**
 * Groups of two or more images whose cosine similarity to another member is at least `threshold` (pairs among each
 * image's k nearest neighbours), each group's members in index order; the closest groups first (by their most
 * similar pair), then by first member.
 */
export function duplicateGroups(neighbours: Neighbours, count: number, threshold: number): number[][] {
  const sets = new UnionFind(count);
  const { k, indices, similarities } = neighbours;
  const strongest = new Float64Array(count).fill(-Infinity);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < k; j++) {
      const similarity = similarities[i * k + j]!;
      // Lists are most similar first: the rest are further still.
      if (!(similarity >= threshold)) break;
      sets.union(i, indices[i * k + j]!);
      strongest[i] = Math.max(strongest[i]!, similarity);
    }
  }
  const byRoot = new Map<number, { members: number[]; strongest: number }>();
  for (let i = 0; i < count; i++) {
    const root = sets.find(i);
    const group = byRoot.get(root);
    if (group) {
      group.members.push(i);
      group.strongest = Math.max(group.strongest, strongest[i]!);
    } else byRoot.set(root, { members: [i], strongest: strongest[i]! });
  }
  return [...byRoot.values()]
    .filter((g) => g.members.length > 1)
    .sort((a, b) => b.strongest - a.strongest || a.members[0]! - b.members[0]!)
    .map((g) => g.members);
}

/** Per image, the index of its duplicate group in `groups`, or −1 when it is in none. */
export function duplicateGroupOf(groups: number[][], count: number): Int32Array {
  const out = new Int32Array(count).fill(-1);
  groups.forEach((members, g) => members.forEach((i) => (out[i] = g)));
  return out;
}

/**
 * How many duplicate groups each threshold gives, in one pass: the close pairs sorted by similarity and joined from
 * the most similar down, counting groups of two or more as thresholds are passed.
 */
export function groupCountsAcrossThresholds(neighbours: Neighbours, count: number, thresholds: number[]): number[] {
  const { k, indices, similarities } = neighbours;
  const lowest = Math.min(...thresholds);
  const pairs: number[] = [];
  for (let i = 0; i < count * k; i++) if (similarities[i]! >= lowest) pairs.push(i);
  pairs.sort((a, b) => similarities[b]! - similarities[a]!);
  const sets = new UnionFind(count);
  const sizes = new Int32Array(count).fill(1);
  let groups = 0;
  const order = thresholds.map((t, i) => ({ t, i })).sort((a, b) => b.t - a.t);
  const out = new Array<number>(thresholds.length).fill(0);
  let p = 0;
  for (const { t, i } of order) {
    while (p < pairs.length && similarities[pairs[p]!]! >= t) {
      const a = sets.find(Math.floor(pairs[p]! / k));
      const b = sets.find(indices[pairs[p]!]!);
      p += 1;
      if (a === b) continue;
      const sa = sizes[a]!;
      const sb = sizes[b]!;
      sets.union(a, b);
      const root = sets.find(a);
      sizes[root] = sa + sb;
      // Two singletons make a group; a singleton joining a group makes none; two groups make one.
      groups += (sa === 1 && sb === 1 ? 1 : 0) - (sa > 1 && sb > 1 ? 1 : 0);
    }
    out[i] = groups;
  }
  return out;
}

/** One image per group kept, the first (lowest index): what "keep one per group" leaves in a selection. */
export function keepOnePerGroup(groups: number[][]): number[] {
  return groups.map((members) => members[0]!);
}
