// Representations for evaluation and display: h = f(x) of a trained (or untrained) encoder, and raw pixels as the
// baseline the recipe says to show next to it.
import * as tf from '@tensorflow/tfjs';
import { gatherBatch } from './batches';
import { representationDim } from './encoders';
import { l2Normalize } from './normalize';
import { toUnitRange } from './step';

function checkIndices(pixels: Uint8Array, indices: number[], imageBytes: number): void {
  const count = Math.floor(pixels.length / imageBytes);
  for (const index of indices) {
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new Error(`image index ${index} is outside the store of ${count} images`);
    }
  }
}

/**
 * Representations h = f(x) of the images at `indices` of a uint8 NHWC store, encoder in inference mode (training:
 * false, so BN uses moving statistics), in batches of `batchSize` (pad the last batch to the same size so GPU buffer
 * shapes stay fixed, drop the padding rows), each row L2-normalised. Returns n × d floats, row-major. Leaves no
 * tensor behind.
 *
 * An all-zero h (every ReLU unit off) stays a zero row rather than becoming NaN.
 */
export async function embedImages(
  encoder: tf.LayersModel,
  pixels: Uint8Array,
  indices: number[],
  imageSize: number,
  channels: number,
  batchSize: number,
): Promise<Float32Array> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  checkIndices(pixels, indices, imageSize * imageSize * channels);
  const dim = representationDim(encoder);
  const out = new Float32Array(indices.length * dim);
  for (let start = 0; start < indices.length; start += batchSize) {
    const batch = indices.slice(start, start + batchSize);
    const rows = batch.length;
    // Padding repeats a real image: in inference mode rows do not interact, so the pad cannot change the others.
    while (batch.length < batchSize) batch.push(batch[0]!);
    const h = tf.tidy(() => {
      const unit = toUnitRange(gatherBatch(pixels, batch, imageSize, channels));
      return l2Normalize(encoder.apply(unit, { training: false }) as tf.Tensor2D);
    });
    try {
      const values = (await h.data()) as Float32Array;
      out.set(values.subarray(0, rows * dim), start * dim);
    } finally {
      h.dispose();
    }
  }
  return out;
}

/**
 * Raw-pixel representations for the baseline: each image flattened to imageSize²·channels values /255,
 * L2-normalised. A black image stays a zero row.
 */
export function rawPixelVectors(pixels: Uint8Array, indices: number[], imageSize: number, channels: number): Float32Array {
  const imageBytes = imageSize * imageSize * channels;
  checkIndices(pixels, indices, imageBytes);
  const out = new Float32Array(indices.length * imageBytes);
  indices.forEach((index, row) => {
    const image = pixels.subarray(index * imageBytes, (index + 1) * imageBytes);
    let sumSquares = 0;
    for (let i = 0; i < imageBytes; i++) sumSquares += image[i]! * image[i]!;
    // Dividing by 255 first and then normalising is the same as normalising the bytes directly.
    const scale = sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
    const base = row * imageBytes;
    for (let i = 0; i < imageBytes; i++) out[base + i] = image[i]! * scale;
  });
  return out;
}
