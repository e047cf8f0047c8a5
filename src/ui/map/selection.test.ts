import { describe, expect, it } from 'vitest';
import { insidePolygon, nearestPoint, pointsInBox, pointsInLasso } from './selection';

const grid = Float32Array.from(Array.from({ length: 25 }, (_, i) => [(i % 5) * 10, Math.floor(i / 5) * 10]).flat());

describe('map selection', () => {
  it('selects the points in a box, whichever corners span it', () => {
    expect(pointsInBox(grid, 5, 5, 20, 20)).toEqual([6, 7, 11, 12]);
    expect(pointsInBox(grid, 20, 20, 5, 5)).toEqual([6, 7, 11, 12]);
    expect(pointsInBox(grid, 0, 0, 0, 0)).toEqual([0]);
  });

  it('selects the points in a lasso, concave ones included', () => {
    // An L shape: the left column and the bottom row of the grid, not the rest.
    const lasso = [-5, -5, 5, -5, 5, 35, 45, 35, 45, 45, -5, 45];
    expect(pointsInLasso(grid, lasso)).toEqual([0, 5, 10, 15, 20, 21, 22, 23, 24]);
    expect(insidePolygon(lasso, 20, 20)).toBe(false);
    expect(pointsInLasso(grid, [0, 0, 10, 10])).toEqual([]);
  });

  it('finds the nearest point within a radius', () => {
    expect(nearestPoint(grid, 11, 12, 5)).toBe(6);
    expect(nearestPoint(grid, 5, 5, 3)).toBeNull();
  });
});
