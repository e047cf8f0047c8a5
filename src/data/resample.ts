// Resizing 8-bit images exactly as PIL's `Image.resize(size, Image.BILINEAR)` does (Pillow's Resample.c), so that
// tabclr trains on the pixels that PyTorch pipelines (torchvision's Resize on PIL images, the reference) feed a model,
// and an exported encoder sees in Python what it saw in the tab. A triangle filter whose support widens with the
// scale when shrinking (so every source pixel counts: no aliasing of thin lines), weights in fixed point with 22
// fractional bits, one pass along rows, then one along columns, with 8-bit rounding in between.
// Pinned bit for bit to PIL by src/data/resample.test.ts (fixture: scripts/parity/pil_resize_fixture.py).

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const TOP = 256 << PRECISION_BITS;

/** For each output pixel along one axis: the first source pixel it reads, how many, and their fixed-point weights. */
export interface Taps {
  first: Int32Array;
  count: Int32Array;
  /** outSize × stride weights; output pixel i's are at [i·stride, i·stride + count[i]). */
  weights: Int32Array;
  stride: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter, from [0, inSize) to outSize pixels. */
export function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filterScale; // the triangle's support is 1, widened by the scale when shrinking
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const k = new Float64Array(stride);
  const inverse = 1 / filterScale;
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const n = Math.min(inSize, Math.trunc(centre + support + 0.5)) - lo;
    let sum = 0;
    for (let t = 0; t < n; t++) {
      const w = Math.max(0, 1 - Math.abs((t + lo - centre + 0.5) * inverse));
      k[t] = w;
      sum += w;
    }
    for (let t = 0; t < n; t++) {
      const w = sum !== 0 ? k[t]! / sum : k[t]!;
      weights[i * stride + t] = Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, weights, stride };
}

function clip8(sum: number): number {
  if (sum >= TOP) return 255;
  if (sum <= 0) return 0;
  return sum >> PRECISION_BITS;
}

/**
 * A bilinear resize fed a band of source rows at a time, so that a large image never has to be held whole: the
 * decoder draws the image a strip at a time and hands each strip to `addRows`; `result` then gives the pixels.
 */
export class BilinearResize {
  private readonly columns: Taps;
  private readonly rows: Taps;
  /** The rows the vertical pass reads: [firstRow, endRow) of the source. */
  readonly firstRow: number;
  readonly endRow: number;
  /** Source rows [firstRow, endRow) resized along x: (endRow − firstRow) × outWidth × channels. */
  private readonly band: Uint8Array;

  constructor(
    readonly inWidth: number,
    readonly inHeight: number,
    readonly outWidth: number,
    readonly outHeight: number,
    readonly channels: number,
  ) {
    if (!(inWidth > 0 && inHeight > 0 && outWidth > 0 && outHeight > 0)) throw new Error(`cannot resize ${inWidth} × ${inHeight} to ${outWidth} × ${outHeight}`);
    this.columns = bilinearTaps(inWidth, outWidth);
    this.rows = bilinearTaps(inHeight, outHeight);
    this.firstRow = this.rows.first[0]!;
    this.endRow = this.rows.first[outHeight - 1]! + this.rows.count[outHeight - 1]!;
    this.band = new Uint8Array((this.endRow - this.firstRow) * outWidth * channels);
  }

  /**
   * Source rows [y0, y0 + rowCount), row-major, `pixelStride` bytes per pixel of which the first `channels` are used
   * (4 for a canvas's RGBA). Rows outside [firstRow, endRow) are ignored.
   */
  addRows(pixels: ArrayLike<number>, y0: number, rowCount: number, pixelStride: number): void {
    const { first, count, weights, stride } = this.columns;
    const { outWidth, channels, band } = this;
    const rowBytes = this.inWidth * pixelStride;
    const from = Math.max(y0, this.firstRow);
    const to = Math.min(y0 + rowCount, this.endRow);
    for (let y = from; y < to; y++) {
      const src = (y - y0) * rowBytes;
      let dst = (y - this.firstRow) * outWidth * channels;
      for (let x = 0; x < outWidth; x++) {
        const n = count[x]!;
        const w0 = x * stride;
        let p = src + first[x]! * pixelStride;
        if (channels === 3) {
          // The common case, three sums in one sweep (the sums stay below 2³¹: int32 arithmetic).
          let r = HALF;
          let g = HALF;
          let b = HALF;
          for (let t = 0; t < n; t++, p += pixelStride) {
            const w = weights[w0 + t]!;
            r = (r + pixels[p]! * w) | 0;
            g = (g + pixels[p + 1]! * w) | 0;
            b = (b + pixels[p + 2]! * w) | 0;
          }
          band[dst++] = clip8(r);
          band[dst++] = clip8(g);
          band[dst++] = clip8(b);
        } else {
          for (let c = 0; c < channels; c++) {
            let sum = HALF;
            for (let t = 0, q = p + c; t < n; t++, q += pixelStride) sum = (sum + pixels[q]! * weights[w0 + t]!) | 0;
            band[dst++] = clip8(sum);
          }
        }
      }
    }
  }

  /** The resized image, outHeight × outWidth × channels, once every row in [firstRow, endRow) has been added. */
  result(): Uint8Array {
    const { first, count, weights, stride } = this.rows;
    const rowLength = this.outWidth * this.channels;
    const out = new Uint8Array(this.outHeight * rowLength);
    for (let y = 0; y < this.outHeight; y++) {
      const n = count[y]!;
      const w0 = y * stride;
      const top = (first[y]! - this.firstRow) * rowLength;
      for (let i = 0; i < rowLength; i++) {
        let sum = HALF;
        for (let t = 0, p = top + i; t < n; t++, p += rowLength) sum = (sum + this.band[p]! * weights[w0 + t]!) | 0;
        out[y * rowLength + i] = clip8(sum);
      }
    }
    return out;
  }
}

/** A whole image in memory (`pixelStride` bytes per pixel, the first `channels` used) resized to outWidth × outHeight. */
export function resizeBilinear(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  pixelStride: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const resize = new BilinearResize(width, height, outWidth, outHeight, channels);
  resize.addRows(pixels, 0, height, pixelStride);
  return resize.result();
}
