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
 * An all-zero h (every ReLU unit off) stays a zero row rather than becoming NaN. An aborted `signal` stops it between
 * batches, with the signal's reason.
 */
export async function embedImages(
  encoder: tf.LayersModel,
  pixels: Uint8Array,
  indices: number[],
  imageSize: number,
  channels: number,
  batchSize: number,
  signal?: AbortSignal,
): Promise<Float32Array> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  checkIndices(pixels, indices, imageSize * imageSize * channels);
  const dim = representationDim(encoder);
  const out = new Float32Array(indices.length * dim);
  for (let start = 0; start < indices.length; start += batchSize) {
    signal?.throwIfAborted();
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

/**
 * Raw pixels shrunk to at most `maxSide` px a side for the linear probe's baseline: each image's f × f blocks
 * averaged, f the smallest whole factor that brings it there (a 64 px image becomes 32 px, 48 px becomes 24 px;
 * up to `maxSide` nothing changes), then flattened and L2-normalised as rawPixelVectors does. A probe on 128 × 128 × 3
 * raw values would cost its fit 16 times what 32 × 32 × 3 does, for a baseline.
 */
export function pooledPixelVectors(pixels: Uint8Array, indices: number[], imageSize: number, channels: number, maxSide: number): { vectors: Float32Array; dim: number } {
  const factor = Math.max(1, Math.ceil(imageSize / maxSide));
  if (factor === 1) return { vectors: rawPixelVectors(pixels, indices, imageSize, channels), dim: imageSize * imageSize * channels };
  const imageBytes = imageSize * imageSize * channels;
  checkIndices(pixels, indices, imageBytes);
  const side = Math.floor(imageSize / factor);
  const dim = side * side * channels;
  const out = new Float32Array(indices.length * dim);
  indices.forEach((index, row) => {
    const image = pixels.subarray(index * imageBytes, (index + 1) * imageBytes);
    const base = row * dim;
    let sumSquares = 0;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let dy = 0; dy < factor; dy++) {
            for (let dx = 0; dx < factor; dx++) sum += image[((y * factor + dy) * imageSize + x * factor + dx) * channels + c]!;
          }
          out[base + (y * side + x) * channels + c] = sum;
          sumSquares += sum * sum;
        }
      }
    }
    const scale = sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
    for (let i = 0; i < dim; i++) out[base + i] = out[base + i]! * scale;
  });
  return { vectors: out, dim };
}
