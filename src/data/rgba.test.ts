import { describe, expect, it } from 'vitest';
import { imageToRgba } from './rgba';

describe('imageToRgba', () => {
  it('replicates gray to RGB and keeps colour, opaque, for the image asked for', () => {
    const gray = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // two 2 × 2 images
    const out = new Uint8ClampedArray(16);
    imageToRgba(gray, 1, 2, 1, out);
    expect(Array.from(out.subarray(0, 8))).toEqual([5, 5, 5, 255, 6, 6, 6, 255]);
    const rgb = Uint8Array.from({ length: 12 }, (_, i) => i);
    imageToRgba(rgb, 0, 2, 3, out);
    expect(Array.from(out.subarray(4, 8))).toEqual([3, 4, 5, 255]);
  });
});
