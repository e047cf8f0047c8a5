// The map's thumbnails in one image (a sprite atlas, as TensorBoard's Embedding Projector draws its images): a grid
// of cells, one per probe image, uploaded once per run and drawn from at every redraw.
import { imageToRgba } from '../../data/rgba';
import type { ProbeSet } from '../../worker/protocol';

export interface SpriteAtlas {
  /** RGBA pixels, width × height × 4, row-major, top row first. */
  pixels: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
  /** Side of one thumbnail in the atlas (pixels); cells are `stride` apart, the rest of a cell is transparent. */
  cell: number;
  stride: number;
  columns: number;
  count: number;
}

/** Largest thumbnail kept: the map never draws one above 128 CSS px, and 64 keeps 2,000 images in a 3k texture. */
const MAX_CELL = 64;

/**
 * Builds the atlas of a probe set: images larger than `maxCell` are shrunk by a whole factor with a box filter (an
 * average of each f × f block), so a 128 px image becomes 64 px; smaller ones keep their pixels. `maxSide` (the
 * device's largest texture) bounds the atlas: the cell shrinks further if the grid would not fit.
 */
export function buildSpriteAtlas(probe: Pick<ProbeSet, 'pixels' | 'imageSize' | 'channels'>, count: number, maxSide = 4096, maxCell = MAX_CELL): SpriteAtlas {
  const { imageSize, channels, pixels } = probe;
  const columns = Math.max(1, Math.ceil(Math.sqrt(count)));
  const rows = Math.max(1, Math.ceil(count / columns));
  // One transparent pixel between cells keeps linear filtering from mixing neighbours.
  let factor = Math.max(1, Math.ceil(imageSize / maxCell));
  while (Math.floor(imageSize / factor) > 1 && columns * (Math.floor(imageSize / factor) + 1) > maxSide) factor += 1;
  const cell = Math.max(1, Math.floor(imageSize / factor));
  const stride = cell + 1;
  const width = columns * stride;
  const height = rows * stride;
  const out = new Uint8ClampedArray(width * height * 4);
  const image = new Uint8ClampedArray(imageSize * imageSize * 4);
  const area = factor * factor;
  for (let i = 0; i < count; i++) {
    imageToRgba(pixels, i, imageSize, channels, image);
    const x0 = (i % columns) * stride;
    const y0 = Math.floor(i / columns) * stride;
    for (let y = 0; y < cell; y++) {
      for (let x = 0; x < cell; x++) {
        const o = ((y0 + y) * width + x0 + x) * 4;
        if (factor === 1) {
          const s = (y * imageSize + x) * 4;
          out[o] = image[s]!;
          out[o + 1] = image[s + 1]!;
          out[o + 2] = image[s + 2]!;
        } else {
          let r = 0;
          let g = 0;
          let b = 0;
          for (let dy = 0; dy < factor; dy++) {
            for (let dx = 0; dx < factor; dx++) {
              const s = ((y * factor + dy) * imageSize + x * factor + dx) * 4;
              r += image[s]!;
              g += image[s + 1]!;
              b += image[s + 2]!;
            }
          }
          out[o] = r / area;
          out[o + 1] = g / area;
          out[o + 2] = b / area;
        }
        out[o + 3] = 255;
      }
    }
  }
  return { pixels: out, width, height, cell, stride, columns, count };
}
