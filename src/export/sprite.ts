// The thumbnail sprite of a data set (a grid of its images, row-major), as a PNG: drawn off the main thread.
import { imageToRgba } from '../data/rgba';
import type { DatasetPayload } from '../worker/protocol';

export async function spritePng(dataset: DatasetPayload, thumb: number, columns: number): Promise<Uint8Array> {
  const { count, imageSize: s, channels, pixels } = dataset;
  const rows = Math.max(1, Math.ceil(count / columns));
  const full = new OffscreenCanvas(columns * s, rows * s);
  const ctx = full.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw off the main thread (no OffscreenCanvas 2D)');
  const image = ctx.createImageData(s, s);
  for (let n = 0; n < count; n++) {
    imageToRgba(pixels, n, s, channels, image.data);
    ctx.putImageData(image, (n % columns) * s, Math.floor(n / columns) * s);
  }
  let out = full;
  if (thumb !== s) {
    out = new OffscreenCanvas(columns * thumb, rows * thumb);
    out.getContext('2d')!.drawImage(full, 0, 0, out.width, out.height);
  }
  return new Uint8Array(await (await out.convertToBlob({ type: 'image/png' })).arrayBuffer());
}
