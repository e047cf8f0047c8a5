// Decoding one image file to RGB pixels at the training size, off the page's thread (in the worker). The browser
// decodes (createImageBitmap: JPEG, PNG, WebP, GIF's first frame, AVIF; EXIF orientation and colour profiles applied);
// the resize is PIL's bilinear (src/data/resample.ts), so that the pixels are those PyTorch pipelines would give a
// model for the same file, not the browser's own 'high' resampling, which treats thin lines differently. A photo
// much larger than the training size is first shrunk by the browser, natively, to REDUCING_GAP × the size: resizing
// every pixel of a 12-megapixel photo in JavaScript would make importing it three times slower (BENCHMARKS.md).
import { centreSquare, MAX_PIXELS, type SkipReason } from './files';
import { BilinearResize } from './resample';

export class SkipError extends Error {
  constructor(readonly reason: SkipReason, detail: string) {
    super(detail);
    this.name = 'SkipError';
  }
}

/** The most pixels drawn at once: a large image is read a band of rows at a time (4 MiB of RGBA). */
const STRIP_PIXELS = 1 << 20;

/**
 * A centred square more than this many times the training size is first shrunk by the browser to this many times
 * it; PIL's filter then does the rest, over 8 × 8 of the browser's pixels per pixel, so that its pixels stay within a
 * grey level of PIL's on average (0.64 and 0.67 in e2e/import.spec.ts; BENCHMARKS.md). At or below it, the pixels are PIL's exactly.
 */
const REDUCING_GAP = 8;

let canvas: OffscreenCanvas | null = null;
let context: OffscreenCanvasRenderingContext2D | null = null;

function drawingContext(width: number, height: number): OffscreenCanvasRenderingContext2D {
  if (!canvas || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
    context = canvas.getContext('2d', { willReadFrequently: true });
    if (context) context.imageSmoothingEnabled = false;
  }
  if (!context) throw new Error('this browser cannot draw images off the main thread (no OffscreenCanvas 2D)');
  return context;
}

/**
 * RGB bytes (size² × 3) of the image's centred square, resized to size × size as PIL's
 * `im.crop(square).resize((size, size), Image.BILINEAR)` does. Transparent pixels are drawn on white first.
 */
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
    let { sx, sy, side } = centreSquare(full.width, full.height);
    let source: ImageBitmap = full;
    if (side > REDUCING_GAP * size) {
      const reduced = REDUCING_GAP * size;
      source = await createImageBitmap(full, sx, sy, side, side, { resizeWidth: reduced, resizeHeight: reduced, resizeQuality: 'high' });
      sx = sy = 0;
      side = reduced;
    }
    try {
      const resize = new BilinearResize(side, side, size, size, 3);
      // No awaits from here on: the one canvas is never shared between decodes in flight.
      const strip = Math.max(1, Math.min(resize.endRow - resize.firstRow, Math.floor(STRIP_PIXELS / side)));
      const ctx = drawingContext(side, strip);
      for (let y = resize.firstRow; y < resize.endRow; y += strip) {
        const rows = Math.min(strip, resize.endRow - y);
        // Transparent pixels become white, as image viewers show them, not black.
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, side, rows);
        ctx.drawImage(source, sx, sy + y, side, rows, 0, 0, side, rows);
        resize.addRows(ctx.getImageData(0, 0, side, rows).data, y, rows, 4);
      }
      return resize.result();
    } finally {
      if (source !== full) source.close();
    }
  } finally {
    full.close();
  }
}
