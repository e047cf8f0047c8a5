import { describe, expect, it } from 'vitest';
import { sliceSprite } from './sprite';

describe('sliceSprite', () => {
  // A 2×2 grid of 2 px tiles (4×4 px sprite); tile n is filled with value 10·(n+1) in red, 200 in green.
  const width = 4;
  const rgba = new Uint8ClampedArray(width * 4 * 4);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      const tile = Math.floor(y / 2) * 2 + Math.floor(x / 2);
      rgba.set([10 * (tile + 1), 200, 0, 255], (y * width + x) * 4);
    }
  }

  it('cuts tiles in row-major order, one channel for grayscale', () => {
    expect(Array.from(sliceSprite(rgba, width, 2, 3, 2, 1))).toEqual([10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30]);
  });

  it('keeps RGB for three channels', () => {
    expect(Array.from(sliceSprite(rgba, width, 2, 1, 2, 3))).toEqual([10, 200, 0, 10, 200, 0, 10, 200, 0, 10, 200, 0]);
  });

  it('refuses a grid that does not fit', () => {
    expect(() => sliceSprite(rgba, width, 3, 3, 2, 1)).toThrow(/does not fit/);
  });
});
