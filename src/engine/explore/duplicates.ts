// Near-duplicates: groups of images every two of which are at least as similar as a threshold (complete linkage),
// from each image's nearest neighbours. Not single linkage (a chain of close pairs made one group): under a barely
// trained encoder, unrelated scenes a step apart chained onto planted copies at 0.95. Not a representative with every
// image within the threshold of it either (FiftyOne's and imagededup's rule): two members could then be far less alike
// than the threshold says (at 0.95, 36° apart: cosine 0.81). Every pair in a group passing the threshold is the rule a
// person can check by eye. The grouping is pure and fast (one sort of the pairs above the lowest threshold asked for,
// then a pass per threshold: NearDuplicates), so that a slider can move the threshold live at 10,000 images.
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
 * The close pairs of a set's neighbour lists, sorted once, grouped at any threshold at or above `lowest`: what the
 * page builds once per exploration, so that moving the slider costs one pass over the pairs.
 */
export class NearDuplicates {
  /** Pairs a < b at or above `lowest`, most similar first (equal similarities by a, then b). */
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly similarity: Float32Array;

  constructor(
    private readonly neighbours: Neighbours,
    private readonly count: number,
    private readonly lowest: number,
  ) {
    const { k, indices, similarities } = neighbours;
    const entries: number[] = [];
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < k; j++) {
        // Lists are most similar first: the rest are further still.
        if (!(similarities[i * k + j]! >= lowest)) break;
        if (indices[i * k + j] !== i) entries.push(i * k + j);
      }
    }
    // A pair both of whose lists hold it is one pair, at the larger of its two similarities (their sums a rounding apart).
    const low = (e: number) => Math.min(Math.floor(e / k), indices[e]!);
    const high = (e: number) => Math.max(Math.floor(e / k), indices[e]!);
    const byPair = Int32Array.from(entries).sort((x, y) => low(x) - low(y) || high(x) - high(y) || similarities[y]! - similarities[x]!);
    const unique = byPair.filter((e, n) => n === 0 || low(e) !== low(byPair[n - 1]!) || high(e) !== high(byPair[n - 1]!));
    unique.sort((x, y) => similarities[y]! - similarities[x]! || low(x) - low(y) || high(x) - high(y));
    this.a = unique.map(low);
    this.b = unique.map(high);
    this.similarity = Float32Array.from(unique, (e) => similarities[e]!);
  }

  /** The pair's similarity as the lists hold it (the larger of the two), or −∞ when neither holds the other. */
  private similarityOf(i: number, j: number): number {
    const { k, indices, similarities } = this.neighbours;
    let best = -Infinity;
    for (let n = 0; n < k; n++) {
      if (indices[i * k + n] === j) best = Math.max(best, similarities[i * k + n]!);
      if (indices[j * k + n] === i) best = Math.max(best, similarities[j * k + n]!);
    }
    return best;
  }

  /**
   * Complete linkage at `threshold` (at or above the lowest): taken from the most similar down, a pair starts a group,
   * adds an image to one, or joins two, only where every pair the result would hold is at or above the threshold (a
   * pair neither of whose lists holds the other counts as below it).
   */
  private link(threshold: number): Group[] {
    if (threshold < this.lowest) throw new RangeError(`threshold ${threshold} is below the lowest prepared, ${this.lowest}`);
    const groupOf = new Int32Array(this.count).fill(-1);
    const groups: (Group | null)[] = [];
    const allClose = (x: number[], y: number[]) => x.every((i) => y.every((j) => this.similarityOf(i, j) >= threshold));
    for (let p = 0; p < this.a.length && this.similarity[p]! >= threshold; p++) {
      const a = this.a[p]!;
      const b = this.b[p]!;
      const ga = groupOf[a]!;
      const gb = groupOf[b]!;
      if (ga >= 0 && ga === gb) continue;
      // Two images on their own: the pair itself is the one pair, and it passes.
      if ((ga >= 0 || gb >= 0) && !allClose(ga >= 0 ? groups[ga]!.members : [a], gb >= 0 ? groups[gb]!.members : [b])) continue;
      if (ga < 0 && gb < 0) {
        groupOf[a] = groupOf[b] = groups.length;
        groups.push({ members: [a, b], strongest: this.similarity[p]! });
      } else if (ga < 0 || gb < 0) {
        const into = Math.max(ga, gb);
        const joining = ga < 0 ? a : b;
        groupOf[joining] = into;
        groups[into]!.members.push(joining);
      } else {
        const from = groups[gb]!;
        for (const i of from.members) groupOf[i] = ga;
        groups[ga]!.members.push(...from.members);
        groups[ga]!.strongest = Math.max(groups[ga]!.strongest, from.strongest);
        groups[gb] = null;
      }
    }
    return groups.filter((g): g is Group => g !== null);
  }

  /** What duplicateGroups gives at `threshold`. */
  groups(threshold: number): number[][] {
    return this.link(threshold)
      .map((g) => ({ members: g.members.sort((x, y) => x - y), strongest: g.strongest }))
      .sort(byCloseness)
      .map((g) => g.members);
  }

  /** How many groups `threshold` gives. */
  groupCount(threshold: number): number {
    return this.link(threshold).length;
  }
}

interface Group {
  members: number[];
  strongest: number;
}

const byCloseness = (a: Group, b: Group) => b.strongest - a.strongest || a.members[0]! - b.members[0]!;

/**
 * Groups of two or more images every two of which have a cosine similarity of at least `threshold` (pairs among each
 * image's k nearest neighbours), each group's members in index order; the closest groups first (by their most
 * similar pair), then by first member.
 */
export function duplicateGroups(neighbours: Neighbours, count: number, threshold: number): number[][] {
  return new NearDuplicates(neighbours, count, threshold).groups(threshold);
}

/** Per image, the index of its duplicate group in `groups`, or −1 when it is in none. */
export function duplicateGroupOf(groups: number[][], count: number): Int32Array {
  const out = new Int32Array(count).fill(-1);
  groups.forEach((members, g) => members.forEach((i) => (out[i] = g)));
  return out;
}

/** How many duplicate groups each threshold gives, as duplicateGroups would: the close pairs sorted once for all. */
export function groupCountsAcrossThresholds(neighbours: Neighbours, count: number, thresholds: number[]): number[] {
  if (thresholds.length === 0) return [];
  const pairs = new NearDuplicates(neighbours, count, Math.min(...thresholds));
  return thresholds.map((t) => pairs.groupCount(t));
}

/** One image per group kept, the first (lowest index): what "keep one per group" leaves in a selection. */
export function keepOnePerGroup(groups: number[][]): number[] {
  return groups.map((members) => members[0]!);
}
