// Decoding one image file to RGB pixels at the training size, off the page's thread (in the worker):
// createImageBitmap decodes, crops the centred square and resizes in one browser-native pass.
import { centreSquare, MAX_PIXELS, type SkipReason } from './files';

export class SkipError extends Error {
  constructor(readonly reason: SkipReason, detail: string) {
    super(detail);
    this.name = 'SkipError';
  }
}

let canvas: OffscreenCanvas | null = null;
let context: OffscreenCanvasRenderingContext2D | null = null;

function drawingContext(size: number): OffscreenCanvasRenderingContext2D {
  if (!canvas || canvas.width !== size) {
    canvas = new OffscreenCanvas(size, size);
    context = canvas.getContext('2d', { willReadFrequently: true });
  }
  if (!context) throw new Error('this browser cannot draw images off the main thread (no OffscreenCanvas 2D)');
  return context;
}

/** RGB bytes (size² × 3) of the image's centred square, resized to size × size. GIFs give their first frame. */
export async function decodeToSquare(blob: Blob, size: number): Promise<Uint8Array> {
  let full: ImageBitmap;
  try {
    full = await createImageBitmap(blob);
  } catch (e) {
    throw new SkipError('corrupt', (e as Error).message);
  }
  try {
    if (full.width * full.height > MAX_PIXELS) throw new SkipError('too-large', `${full.width} × ${full.height} pixels`);
    if (full.width === 0 || full.height === 0) throw new SkipError('corrupt', 'the image has no pixels');
    const { sx, sy, side } = centreSquare(full.width, full.height);
    const square = await createImageBitmap(full, sx, sy, side, side, { resizeWidth: size, resizeHeight: size, resizeQuality: 'high' });
    const ctx = drawingContext(size);
    // Transparent pixels become white, as image viewers show them, not black.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size, size);
    ctx.drawImage(square, 0, 0);
    square.close();
    const rgba = ctx.getImageData(0, 0, size, size).data;
    const rgb = new Uint8Array(size * size * 3);
    for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
      rgb[q] = rgba[p]!;
      rgb[q + 1] = rgba[p + 1]!;
      rgb[q + 2] = rgba[p + 2]!;
    }
    return rgb;
  } finally {
    full.close();
  }
}
