import { describe, expect, it } from 'vitest';
import { buildSpriteAtlas } from './spriteAtlas';

describe('buildSpriteAtlas', () => {
  it('lays images out in a square grid with a transparent gutter, gray replicated to RGB', () => {
    // Five 2 × 2 grayscale images, image i filled with 10·(i + 1).
    const pixels = Uint8Array.from({ length: 5 * 4 }, (_, k) => 10 * (Math.floor(k / 4) + 1));
    const atlas = buildSpriteAtlas({ pixels, imageSize: 2, channels: 1 }, 5);
    expect(atlas).toMatchObject({ columns: 3, cell: 2, stride: 3, width: 9, height: 6, count: 5 });
    const at = (x: number, y: number) => Array.from(atlas.pixels.subarray((y * atlas.width + x) * 4, (y * atlas.width + x) * 4 + 4));
    expect(at(0, 0)).toEqual([10, 10, 10, 255]);
    expect(at(1, 1)).toEqual([10, 10, 10, 255]);
    expect(at(2, 0)).toEqual([0, 0, 0, 0]); // gutter
    expect(at(3, 0)).toEqual([20, 20, 20, 255]);
    expect(at(4, 4)).toEqual([50, 50, 50, 255]); // image 4: row 1, column 1
    expect(at(6, 3)).toEqual([0, 0, 0, 0]); // no sixth image
  });

  it('shrinks large images by a whole factor with a box filter, and keeps colour', () => {
    // One 4 × 4 RGB image: red rises along x.
    const pixels = new Uint8Array(4 * 4 * 3);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) pixels.set([x * 40, 7, 200], (y * 4 + x) * 3);
    const atlas = buildSpriteAtlas({ pixels, imageSize: 4, channels: 3 }, 1, 4096, 2);
    expect(atlas.cell).toBe(2);
    expect(Array.from(atlas.pixels.subarray(0, 8))).toEqual([20, 7, 200, 255, 100, 7, 200, 255]);
  });

  it('fits the largest texture the device allows', () => {
    const pixels = new Uint8Array(100 * 8 * 8);
    const atlas = buildSpriteAtlas({ pixels, imageSize: 8, channels: 1 }, 100, 40);
    expect(atlas.width).toBeLessThanOrEqual(40);
    expect(atlas.cell).toBe(2);
  });
});
