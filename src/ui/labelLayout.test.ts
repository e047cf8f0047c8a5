import { describe, expect, it } from 'vitest';
import { labelTop, spreadLabels } from './labelLayout';

const overlaps = (tops: number[], height: number) =>
  tops.some((a, i) => tops.some((b, j) => i < j && a < b + height && b < a + height));

describe('spreadLabels', () => {
  it('leaves labels that do not touch where they want to be', () => {
    expect(spreadLabels([10, 60, 100], 14, 1, 150)).toEqual([10, 60, 100]);
  });

  it('pushes apart two baselines of close value (the narrow window: lines 15 px apart at the top), keeping their order', () => {
    // kNN raw pixels' line 19 px down (label above it), probe raw pixels' line at 4 px (label below it).
    const wanted = [labelTop(19, 14, 2), labelTop(4, 14, 2)];
    expect(wanted).toEqual([3, 6]);
    const tops = spreadLabels(wanted, 14, 1, 100);
    expect(tops[0]).toBe(3);
    expect(tops[1]).toBe(18);
    expect(overlaps(tops, 14)).toBe(false);
  });

  it('pushes back up from the bottom edge, and never above the top when they fit', () => {
    const tops = spreadLabels([140, 138, 141, 139], 14, 1, 150);
    expect(overlaps(tops, 14)).toBe(false);
    expect(Math.max(...tops) + 14).toBeLessThanOrEqual(150);
    expect(Math.min(...tops)).toBeGreaterThanOrEqual(0);
  });

  it('returns the tops in the order it was given', () => {
    expect(spreadLabels([50, 0], 10, 0, 100)).toEqual([50, 0]);
    expect(spreadLabels([5, 0], 10, 0, 100)).toEqual([10, 0]);
  });

  it('with more labels than the plot holds, starts at the top', () => {
    expect(spreadLabels([0, 0, 0], 10, 0, 25)).toEqual([0, 10, 20]);
  });
});
