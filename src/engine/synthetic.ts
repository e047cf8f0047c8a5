// Synthetic images for self-tests and checks that must not depend on user data: each image is a distinct
// arrangement of coloured rectangles on a coloured background, so that instance discrimination is learnable.
import type { Channels } from './config';
import { Random } from './random';

/** `count` images of size×size×channels as uint8 values in an NHWC array. */
export function syntheticImages(count: number, size: number, channels: Channels, seed: number): Uint8Array {
  const rng = new Random(seed);
  const out = new Uint8Array(count * size * size * channels);
  const colour = () => Array.from({ length: channels }, () => rng.int(256));
  for (let n = 0; n < count; n++) {
    const base = n * size * size * channels;
    const background = colour();
    for (let p = 0; p < size * size; p++) for (let c = 0; c < channels; c++) out[base + p * channels + c] = background[c]!;
    for (let r = 0; r < 3; r++) {
      const fill = colour();
      const w = 2 + rng.int(Math.max(1, size / 2));
      const h = 2 + rng.int(Math.max(1, size / 2));
      const x0 = rng.int(size - Math.min(w, size - 1));
      const y0 = rng.int(size - Math.min(h, size - 1));
      for (let y = y0; y < Math.min(size, y0 + h); y++) {
        for (let x = x0; x < Math.min(size, x0 + w); x++) {
          for (let c = 0; c < channels; c++) out[base + (y * size + x) * channels + c] = fill[c]!;
        }
      }
    }
  }
  return out;
}
