// Slicing a sprite sheet (images laid out in a grid) into the uint8 NHWC store the trainer uses.

/**
 * Cuts `count` side×side tiles, row-major over `columns` columns, out of RGBA pixels `width` wide, keeping 1
 * channel (the red one, for grayscale sprites) or 3 (RGB).
 */
export function sliceSprite(rgba: Uint8ClampedArray | Uint8Array, width: number, columns: number, count: number, side: number, channels: 1 | 3): Uint8Array {
  const height = rgba.length / 4 / width;
  if (!Number.isInteger(height)) throw new Error(`sprite data is not ${width} pixels wide RGBA`);
  const rows = Math.ceil(count / columns);
  if (columns * side > width || rows * side > height) {
    throw new Error(`a ${columns}×${rows} grid of ${side} px tiles does not fit a ${width}×${height} sprite`);
  }
  const out = new Uint8Array(count * side * side * channels);
  for (let n = 0; n < count; n++) {
    const x0 = (n % columns) * side;
    const y0 = Math.floor(n / columns) * side;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const src = ((y0 + y) * width + x0 + x) * 4;
        const dst = ((n * side + y) * side + x) * channels;
        for (let c = 0; c < channels; c++) out[dst + c] = rgba[src + c]!;
      }
    }
  }
  return out;
}
