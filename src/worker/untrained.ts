// The encoder as a run starts, kept aside so that its map and baselines can be measured beside the first steps
// instead of before them: step 1 starts as soon as the pipelines are compiled.
import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../engine/config';
import { createEncoder } from '../engine/encoders';

/**
 * A frozen copy of an encoder and the one measurement made with it. The copy shares the weights' data (a tfjs
 * variable's assign takes a reference; training gives the run's variables new data and leaves this alone) and is
 * released when the measurement ends, or on cancel if it never began.
 */
export class UntrainedEncoder {
  private encoder: tf.LayersModel | null;
  private readonly controller = new AbortController();
  private work: Promise<void> | null = null;

  constructor(encoder: tf.LayersModel, config: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'>) {
    const copy = createEncoder(config, 0);
    copy.setWeights(encoder.getWeights());
    this.encoder = copy;
  }

  get started(): boolean {
    return this.work !== null;
  }

  /** Runs `measure` with the copy, once; later calls return the same promise. A cancelled one never runs. */
  measure(measure: (encoder: tf.LayersModel, signal: AbortSignal) => Promise<void>): Promise<void> {
    if (!this.work) {
      const encoder = this.encoder;
      this.work = encoder && !this.controller.signal.aborted ? measure(encoder, this.controller.signal).finally(() => this.release()) : Promise.resolve();
    }
    return this.work;
  }

  /** Settles when the measurement, if it began, is over (it may have failed: the caller reports that). */
  async done(): Promise<void> {
    await this.work?.catch(() => undefined);
  }

  /** Stops the measurement between batches, or keeps it from starting; the copy is released either way. */
  cancel(reason = 'the run was stopped'): void {
    this.controller.abort(new Error(reason));
    if (!this.work) this.release();
  }

  private release(): void {
    this.encoder?.dispose();
    this.encoder = null;
  }
}
