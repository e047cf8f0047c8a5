// The thumbnail sprite of a data set (a grid of its images, row-major), as a PNG: drawn off the main thread.
import type { DatasetPayload } from '../worker/protocol';

export async function spritePng(dataset: DatasetPayload, thumb: number, columns: number): Promise<Uint8Array> {
  const { count, imageSize: s, channels, pixels } = dataset;
  const rows = Math.max(1, Math.ceil(count / columns));
  const full = new OffscreenCanvas(columns * s, rows * s);
  const ctx = full.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw off the main thread (no OffscreenCanvas 2D)');
  const image = ctx.createImageData(s, s);
  for (let n = 0; n < count; n++) {
    const offset = n * s * s * channels;
    for (let p = 0; p < s * s; p++) {
      for (let c = 0; c < 3; c++) image.data[p * 4 + c] = pixels[offset + p * channels + (channels === 3 ? c : 0)]!;
      image.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(image, (n % columns) * s, Math.floor(n / columns) * s);
  }
  let out = full;
  if (thumb !== s) {
    out = new OffscreenCanvas(columns * thumb, rows * thumb);
    out.getContext('2d')!.drawImage(full, 0, 0, out.width, out.height);
  }
  return new Uint8Array(await (await out.convertToBlob({ type: 'image/png' })).arrayBuffer());
}
