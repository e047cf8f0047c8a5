import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { embedImages, pooledPixelVectors, rawPixelVectors } from './embed';
import { createEncoder, representationDim } from './encoders';
import { syntheticImages } from './synthetic';

const SIZE = 8;
const CHANNELS = 3;
const COUNT = 11;
const pixels = syntheticImages(COUNT, SIZE, CHANNELS, 7);

function tinyEncoder(seed = 1): tf.LayersModel {
  return createEncoder({ encoder: 'convnet4', width: 1 / 16, imageSize: SIZE, channels: CHANNELS }, seed);
}

function rowNorms(values: Float32Array, dim: number): number[] {
  return Array.from({ length: values.length / dim }, (_, r) => Math.hypot(...values.subarray(r * dim, (r + 1) * dim)));
}

/** The batch-norm moving statistics (non-trainable weights), copied. */
function movingStatistics(encoder: tf.LayersModel): Float32Array[] {
  return encoder.weights.filter((w) => !w.trainable).map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
}

describe('embedImages', () => {
  it('returns n × d unit rows, the same whatever the batch size and padding', async () => {
    const encoder = tinyEncoder();
    const dim = representationDim(encoder);
    const indices = [3, 0, 10, 5, 5, 1, 9];
    const reference = await embedImages(encoder, pixels, indices, SIZE, CHANNELS, indices.length);
    expect(reference).toHaveLength(indices.length * dim);
    for (const norm of rowNorms(reference, dim)) expect(norm).toBeCloseTo(1, 5);
    // 7 rows in batches of 1 (no padding), 3 (last padded by 2), 4 (padded by 1) and 16 (one padded batch).
    for (const batchSize of [1, 3, 4, 16]) {
      const other = await embedImages(encoder, pixels, indices, SIZE, CHANNELS, batchSize);
      expect(other).toHaveLength(reference.length);
      for (let i = 0; i < reference.length; i++) expect(Math.abs(other[i]! - reference[i]!)).toBeLessThan(1e-5);
    }
    // Repeated indices give repeated rows; distinct images give distinct rows.
    expect(Array.from(reference.subarray(3 * dim, 4 * dim))).toEqual(Array.from(reference.subarray(4 * dim, 5 * dim)));
    expect(Array.from(reference.subarray(0, dim))).not.toEqual(Array.from(reference.subarray(dim, 2 * dim)));
    encoder.dispose();
  });

  it('row i is h = f(x_i) in inference mode, normalised', async () => {
    const encoder = tinyEncoder(2);
    const dim = representationDim(encoder);
    const indices = [4, 2];
    const embedded = await embedImages(encoder, pixels, indices, SIZE, CHANNELS, 2);
    const expected = tf.tidy(() => {
      const bytes = pixels.slice(4 * SIZE * SIZE * CHANNELS, 5 * SIZE * SIZE * CHANNELS);
      const x = tf.div(tf.tensor4d(bytes, [1, SIZE, SIZE, CHANNELS], 'float32'), 255);
      const h = encoder.predict(x) as tf.Tensor2D;
      return tf.div(h, tf.norm(h)).arraySync() as number[][];
    });
    for (let j = 0; j < dim; j++) expect(embedded[j]).toBeCloseTo(expected[0]![j]!, 5);
    encoder.dispose();
  });

  it('uses moving statistics and leaves them alone (a training-mode pass would change them)', async () => {
    const encoder = tinyEncoder(3);
    const before = movingStatistics(encoder);
    await embedImages(encoder, pixels, [0, 1, 2, 3, 4, 5], SIZE, CHANNELS, 4);
    expect(movingStatistics(encoder)).toEqual(before);
    // Control: the check above can fail. A training-mode pass over the same images moves the statistics.
    tf.tidy(() => {
      const x = tf.div(tf.tensor4d(pixels.slice(0, 6 * SIZE * SIZE * CHANNELS), [6, SIZE, SIZE, CHANNELS], 'float32'), 255);
      encoder.apply(x, { training: true });
    });
    expect(movingStatistics(encoder)).not.toEqual(before);
    encoder.dispose();
  });

  it('leaves no tensor behind, and handles an empty list', async () => {
    const encoder = tinyEncoder(4);
    await embedImages(encoder, pixels, [0, 1, 2], SIZE, CHANNELS, 2); // warm-up
    const tensors = tf.memory().numTensors;
    await embedImages(encoder, pixels, [5, 6, 7, 8, 9], SIZE, CHANNELS, 2);
    expect(await embedImages(encoder, pixels, [], SIZE, CHANNELS, 2)).toHaveLength(0);
    expect(tf.memory().numTensors).toBe(tensors);
    encoder.dispose();
  });

  it('refuses an index outside the store and a bad batch size', async () => {
    const encoder = tinyEncoder(5);
    await expect(embedImages(encoder, pixels, [COUNT], SIZE, CHANNELS, 2)).rejects.toThrow(/outside/);
    await expect(embedImages(encoder, pixels, [0], SIZE, CHANNELS, 0)).rejects.toThrow(/batch size/);
    encoder.dispose();
  });
});

describe('embedImages, stopped', () => {
  it('stops between batches once its signal is aborted, leaving no tensor behind', async () => {
    const encoder = tinyEncoder();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    controller.abort(new Error('the run was stopped'));
    await expect(embedImages(encoder, pixels, [0, 1, 2, 3, 4, 5], SIZE, CHANNELS, 2, controller.signal)).rejects.toThrow('the run was stopped');
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });
});

describe('rawPixelVectors', () => {
  it('flattens each image, L2-normalised, proportional to its pixels', () => {
    const imageBytes = SIZE * SIZE * CHANNELS;
    const indices = [2, 9, 2];
    const vectors = rawPixelVectors(pixels, indices, SIZE, CHANNELS);
    expect(vectors).toHaveLength(indices.length * imageBytes);
    for (const norm of rowNorms(vectors, imageBytes)) expect(norm).toBeCloseTo(1, 5);
    indices.forEach((index, row) => {
      const image = pixels.subarray(index * imageBytes, (index + 1) * imageBytes);
      const brightest = image.reduce((a, b) => Math.max(a, b), 0);
      const at = image.indexOf(brightest);
      const ratio = vectors[row * imageBytes + at]! / (brightest / 255);
      for (let i = 0; i < imageBytes; i++) expect(vectors[row * imageBytes + i]).toBeCloseTo((ratio * image[i]!) / 255, 6);
    });
  });

  it('a hand-checked image, and a black one stays zero rather than NaN', () => {
    // Two 1×1 two-channel images: (3, 4) → (0.6, 0.8); (0, 0) → (0, 0).
    const vectors = rawPixelVectors(Uint8Array.from([3, 4, 0, 0]), [0, 1], 1, 2);
    expect(Array.from(vectors)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0, 0]);
  });
});

describe('pooledPixelVectors', () => {
  it('leaves images up to the size alone, and averages f × f blocks of larger ones per channel, then normalises', () => {
    const small = Uint8Array.from({ length: 2 * 2 * 2 }, (_, i) => i + 1);
    expect(pooledPixelVectors(small, [0], 2, 2, 2)).toEqual({ vectors: rawPixelVectors(small, [0], 2, 2), dim: 8 });
    // One 4 × 4 two-channel image: channel 0 is the column index, channel 1 is 10 everywhere; halved to 2 × 2.
    const image = new Uint8Array(4 * 4 * 2);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) image.set([x, 10], (y * 4 + x) * 2);
    const { vectors, dim } = pooledPixelVectors(image, [0], 4, 2, 2);
    expect(dim).toBe(8);
    // Block means: columns 0–1 average 0.5, columns 2–3 average 2.5; channel 1 stays 10.
    const means = [0.5, 10, 2.5, 10, 0.5, 10, 2.5, 10];
    const norm = Math.hypot(...means);
    means.forEach((m, i) => expect(vectors[i]).toBeCloseTo(m / norm, 6));
  });

  it('shrinks by the smallest whole factor that fits: 48 px to 24, 64 px to 32', () => {
    expect(pooledPixelVectors(new Uint8Array(48 * 48), [0], 48, 1, 32).dim).toBe(24 * 24);
    expect(pooledPixelVectors(new Uint8Array(64 * 64 * 3), [0], 64, 3, 32).dim).toBe(32 * 32 * 3);
  });
});
