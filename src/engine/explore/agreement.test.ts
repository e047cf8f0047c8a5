import { describe, expect, it } from 'vitest';
import { Random } from '../random';
import { adjustedRandIndex, purity } from './agreement';
import { runSklearn } from '../../test/sklearn';

describe('agreement with labels', () => {
  it('gives 1 for the same partition under other names, and purity by the majority class', () => {
    expect(adjustedRandIndex([0, 0, 1, 1, 2], [5, 5, 3, 3, 9])).toBe(1);
    expect(purity([0, 0, 0, 1, 1], [1, 1, 2, 2, 2])).toBeCloseTo(4 / 5, 12);
    expect(purity([0, 1, 2], [0, 0, 0])).toBe(1);
  });

  it("matches scikit-learn's adjusted_rand_score on random and near-random labellings", () => {
    const rng = new Random(9);
    const cases = Array.from({ length: 6 }, (_, c) => {
      const n = 50 + 40 * c;
      const a = Int32Array.from({ length: n }, () => rng.int(2 + c));
      // The second half of the cases agree more and more with `a`.
      const b = Int32Array.from(a, (v) => (rng.next() < c / 6 ? v : rng.int(3 + c)));
      return { a, b };
    });
    const arrays: Record<string, Int32Array> = {};
    cases.forEach(({ a, b }, i) => {
      arrays[`a${i}`] = a;
      arrays[`b${i}`] = b;
    });
    const theirs = runSklearn(
      `from sklearn.metrics import adjusted_rand_score
print(json.dumps([adjusted_rand_score(i32(f"a{i}"), i32(f"b{i}")) for i in range(${cases.length})]))`,
      arrays,
    ) as number[];
    cases.forEach(({ a, b }, i) => expect(adjustedRandIndex(a, b)).toBeCloseTo(theirs[i]!, 10));
  });
});
