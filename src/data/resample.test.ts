import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { centreSquare } from './files';
import { BilinearResize, bilinearTaps, resizeBilinear } from './resample';

// PIL's Image.crop(centred square).resize((size, size), Image.BILINEAR) for seeded images
// (scripts/parity/pil_resize_fixture.py).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/pil-bilinear.json', import.meta.url), 'utf8')) as {
  pil: string;
  cases: { width: number; height: number; channels: number; size: number; pixels: string; expected: string }[];
};
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

/** The centred square of an interleaved image, as RGBA (4 bytes per pixel, alpha 255), as a canvas hands it over. */
function squareRgba(pixels: Uint8Array, width: number, height: number, channels: number) {
  const { sx, sy, side } = centreSquare(width, height);
  const rgba = new Uint8ClampedArray(side * side * 4).fill(255);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < channels; c++) rgba[(y * side + x) * 4 + c] = pixels[((sy + y) * width + sx + x) * channels + c]!;
  return { rgba, side };
}

describe('resizeBilinear', () => {
  it.each(fixture.cases.map((c) => [`${c.width} × ${c.height} × ${c.channels} → ${c.size}`, c] as const))('gives PIL\'s pixels bit for bit: %s', (_, c) => {
    const { rgba, side } = squareRgba(bytes(c.pixels), c.width, c.height, c.channels);
    const out = resizeBilinear(rgba, side, side, 4, c.channels, c.size, c.size);
    expect(Array.from(out)).toEqual(Array.from(bytes(c.expected)));
  });

  it('gives the same pixels when the rows come in strips of any height, or with rows it does not need', () => {
    const c = fixture.cases.find((k) => k.width === 150)!;
    const { rgba, side } = squareRgba(bytes(c.pixels), c.width, c.height, c.channels);
    const whole = resizeBilinear(rgba, side, side, 4, 3, c.size, c.size);
    for (const strip of [1, 7, 64]) {
      const resize = new BilinearResize(side, side, c.size, c.size, 3);
      for (let y = 0; y < side; y += strip) {
        const rows = Math.min(strip, side - y);
        resize.addRows(rgba.subarray(y * side * 4, (y + rows) * side * 4), y, rows, 4);
      }
      expect(resize.result()).toEqual(whole);
    }
  });

  it('copies an image at its own size, and keeps a flat colour flat whatever the scale', () => {
    const c = fixture.cases.find((k) => k.width === 16)!;
    const { rgba } = squareRgba(bytes(c.pixels), 16, 16, 3);
    expect(resizeBilinear(rgba, 16, 16, 4, 3, 16, 16)).toEqual(bytes(c.pixels));
    const flat = new Uint8Array(97 * 61).fill(201);
    for (const [w, h] of [[3, 5], [16, 16], [200, 128]] as const) expect(new Set(resizeBilinear(flat, 97, 61, 1, 1, w, h))).toEqual(new Set([201]));
  });

  it('reads every source pixel when shrinking (a one-pixel line 28 → 16 is never lost), with weights summing to one', () => {
    const taps = bilinearTaps(28, 16);
    for (let i = 0; i < 16; i++) {
      const sum = taps.weights.subarray(i * taps.stride, i * taps.stride + taps.count[i]!).reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - 2 ** 22)).toBeLessThanOrEqual(taps.count[i]!);
    }
    const covered = new Set<number>();
    for (let i = 0; i < 16; i++) for (let t = 0; t < taps.count[i]!; t++) if (taps.weights[i * taps.stride + t]! > 0) covered.add(taps.first[i]! + t);
    expect(covered.size).toBe(28);
    for (let column = 0; column < 28; column++) {
      const line = new Uint8Array(28 * 28);
      for (let y = 0; y < 28; y++) line[y * 28 + column] = 255;
      expect(Math.max(...resizeBilinear(line, 28, 28, 1, 1, 16, 16))).toBeGreaterThan(60);
    }
  });

  it('refuses an empty image', () => {
    expect(() => new BilinearResize(0, 5, 4, 4, 3)).toThrow(/cannot resize 0 × 5/);
  });
});
