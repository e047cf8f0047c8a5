// Batches of source images: epochs of shuffled indices, gathered from the uint8 image store.
import * as tf from '@tensorflow/tfjs';
import type { Random } from './random';

export interface SamplerState {
  order: number[];
  position: number;
  epoch: number;
  random: number;
}

/**
 * Draws batches without replacement within an epoch; a new permutation each epoch. Batches are always full
 * (a fixed batch shape keeps tfjs WebGPU's exact-size buffer pool from growing), so an epoch's tail carries over.
 */
export class EpochSampler {
  private order: number[] = [];
  private position = 0;
  epoch = 0;

  constructor(
    private readonly count: number,
    private readonly batchSize: number,
    private readonly rng: Random,
  ) {
    if (count < 2) throw new Error(`SimCLR needs at least 2 images, got ${count}`);
    if (batchSize < 2) throw new Error(`batch size must be at least 2, got ${batchSize}`);
    if (batchSize > count) throw new Error(`batch size ${batchSize} is larger than the ${count} images`);
  }

  /** Where the sampler is, for a checkpoint: restoring it continues with the same batches. */
  getState(): SamplerState {
    return { order: this.order.slice(), position: this.position, epoch: this.epoch, random: this.rng.getState() };
  }

  setState(state: SamplerState): void {
    const valid =
      state.order.length === 0 || (state.order.length === this.count && state.order.every((i) => Number.isInteger(i) && i >= 0 && i < this.count));
    if (!valid || !(Number.isInteger(state.position) && state.position >= 0 && state.position <= state.order.length)) {
      throw new Error(`sampler state does not fit a data set of ${this.count} images`);
    }
    this.rng.setState(state.random);
    this.order = state.order.slice();
    this.position = state.position;
    this.epoch = state.epoch;
  }

  next(): number[] {
    const batch: number[] = [];
    while (batch.length < this.batchSize) {
      if (this.position >= this.order.length) {
        this.order = this.rng.permutation(this.count);
        this.position = 0;
        this.epoch += 1;
      }
      const index = this.order[this.position++]!;
      // At an epoch boundary the same image could be drawn twice in one batch: it would be its own negative.
      if (!batch.includes(index)) batch.push(index);
    }
    return batch;
  }
}

/** The images at `indices` from an NHWC uint8 store, as an int32 tensor [B, S, S, C]. */
export function gatherBatch(pixels: Uint8Array, indices: number[], imageSize: number, channels: number): tf.Tensor4D {
  const imageBytes = imageSize * imageSize * channels;
  const out = new Int32Array(indices.length * imageBytes);
  indices.forEach((index, b) => out.set(pixels.subarray(index * imageBytes, (index + 1) * imageBytes), b * imageBytes));
  return tf.tensor4d(out, [indices.length, imageSize, imageSize, channels], 'int32');
}
