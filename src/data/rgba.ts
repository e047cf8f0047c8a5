// Drawing stored images: the uint8 NHWC store (1 or 3 channels) into canvas RGBA.

/** Writes image `index` of an NHWC uint8 store into `rgba` (side² × 4 bytes), opaque, gray replicated to RGB. */
export function imageToRgba(pixels: Uint8Array, index: number, side: number, channels: number, rgba: Uint8ClampedArray): void {
  const offset = index * side * side * channels;
  for (let p = 0; p < side * side; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = pixels[offset + p * channels + (channels === 3 ? c : 0)]!;
    rgba[p * 4 + 3] = 255;
  }
}
