// Exploring the whole folder: every image's representation (the run's encoder as it is now, the same encoder as it
// started, or raw pixels) in batches with progress, then neighbours, outliers, groups and a map
// (src/engine/explore/analyse.ts); with labels, how well k-means groups match them under all three representations.
// The last representation is kept for searches by an image from outside the set.
import type * as tf from '@tensorflow/tfjs';
import { embedImages, pooledPixelVectors } from '../engine/embed';
import { createEncoder } from '../engine/encoders';
import { adjustedRandIndex, purity } from '../engine/explore/agreement';
import { analyseRepresentation, type AnalysisStage } from '../engine/explore/analyse';
import { centredRows, centredUnitRows, meanRow } from '../engine/explore/centre';
import { kMeans } from '../engine/explore/kmeans';
import { cosineTopK } from '../engine/explore/topk';
import type { DatasetPayload, ExploreAgreement, ExploreProgress, ExploreRequest, ExploreResult, Representation } from './protocol';
import type { Run } from './run';

/** Images per call of the encoder: progress and cancel come between chunks; one chunk's floats are all it holds at once beyond the result. */
const CHUNK = 256;
/** Raw pixels are averaged down to at most this side first (as the linear probe's baseline is): 32 × 32 × 3 = 3,072 values an image. */
export const RAW_SIDE = 32;
/** The page's thumbnails of the whole folder are at most this side. */
export const THUMB_SIDE = 32;

export interface ExploreWork {
  run: Run;
  dataset: DatasetPayload;
  signal: AbortSignal;
  progress(progress: ExploreProgress): void;
  /** Awaited before each chunk the encoder embeds (the environment's beforeExploreChunk). */
  beforeChunk?(): Promise<void>;
}

/**
 * A frozen encoder for a representation, which the caller disposes: the run's encoder as it is now (a copy, so that
 * training steps taken meanwhile do not mix two encoders into one representation; the copy shares the weights' data,
 * as untrained.ts explains), the same architecture as it started (the run's seed), or null for raw pixels.
 */
export function frozenEncoder(run: Run, representation: Representation): tf.LayersModel | null {
  if (representation === 'pixels') return null;
  const encoder = createEncoder(run.state.config.model, run.state.config.seed);
  if (representation === 'trained') encoder.setWeights(run.state.model.encoder.getWeights());
  return encoder;
}

/** The representation's vectors of every image, L2-normalised, in data-set order; `encoder` null for raw pixels. */
export async function representationOf(work: ExploreWork, representation: Representation, encoder: tf.LayersModel | null): Promise<{ vectors: Float32Array; dim: number }> {
  const { run, dataset, signal } = work;
  const { pixels, imageSize, channels, count } = dataset;
  const all = Array.from({ length: count }, (_, i) => i);
  if (!encoder) {
    work.progress({ stage: 'embedding', representation, done: 0, total: count });
    const pooled = pooledPixelVectors(pixels, all, imageSize, channels, RAW_SIDE);
    work.progress({ stage: 'embedding', representation, done: count, total: count });
    return { vectors: pooled.vectors, dim: pooled.dim };
  }
  let out: Float32Array | null = null;
  let dim = 0;
  for (let start = 0; start < count; start += CHUNK) {
    signal.throwIfAborted();
    await work.beforeChunk?.();
    signal.throwIfAborted();
    const indices = all.slice(start, start + CHUNK);
    const vectors = await embedImages(encoder, pixels, indices, imageSize, channels, run.monitor.batchSize, signal);
    if (!out) {
      dim = vectors.length / indices.length;
      out = new Float32Array(count * dim);
    }
    out.set(vectors, start * dim);
    work.progress({ stage: 'embedding', representation, done: start + indices.length, total: count });
  }
  return { vectors: out ?? new Float32Array(0), dim };
}

/** Images shrunk to at most THUMB_SIDE by averaging whole blocks, uint8 NHWC: what the page draws thumbnails from. */
export function thumbnails(dataset: DatasetPayload): { pixels: Uint8Array; side: number } {
  const { pixels, imageSize, channels, count } = dataset;
  const factor = Math.max(1, Math.ceil(imageSize / THUMB_SIDE));
  if (factor === 1) return { pixels: pixels.slice(0, count * imageSize * imageSize * channels), side: imageSize };
  const side = Math.floor(imageSize / factor);
  const out = new Uint8Array(count * side * side * channels);
  const area = factor * factor;
  for (let n = 0; n < count; n++) {
    const base = n * imageSize * imageSize * channels;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) sum += pixels[base + ((y * factor + dy) * imageSize + x * factor + dx) * channels + c]!;
          out[((n * side + y) * side + x) * channels + c] = Math.round(sum / area);
        }
      }
    }
  }
  return { pixels: out, side };
}

/** The representation kept from the last exploration, for searches: its vectors and its frozen encoder (null for pixels). */
export interface KeptRepresentation {
  representation: Representation;
  runId: string;
  step: number;
  /** The rows searched: centred on `mean` and unit length. */
  vectors: Float32Array;
  mean: Float32Array;
  dim: number;
  encoder: tf.LayersModel | null;
}

export function disposeKept(kept: KeptRepresentation | null): void {
  kept?.encoder?.dispose();
}

/**
 * Everything the Explore panel shows, for the representation asked for, and what a search needs kept (the caller
 * owns its encoder). Nothing else is left allocated, whether it ends, fails or is cancelled.
 */
export async function explore(work: ExploreWork, request: ExploreRequest, now: () => number): Promise<{ result: ExploreResult; kept: KeptRepresentation }> {
  const { run, dataset, signal } = work;
  const started = now();
  const seed = run.state.config.seed;
  const step = run.state.step;
  const encoder = frozenEncoder(run, request.representation);
  try {
    const { vectors, dim } = await representationOf(work, request.representation, encoder);
    const embeddedMs = now() - started;
    // Neighbours and groups see the rows centred on the folder's mean (centre.ts says why); the map and the table, h.
    const mean = meanRow(vectors, dim);
    const { rows: centred, lengths } = centredRows(vectors, dim, mean);
    const analysis = await analyseRepresentation({ unit: vectors, centred, lengths }, dataset.count, dim, {
      k: request.k,
      neighbours: request.neighbours,
      seed,
      signal,
      onProgress: (stage: AnalysisStage, done, total) => work.progress({ stage, representation: request.representation, done, total }),
    });
    let agreement: ExploreAgreement | null = null;
    if (dataset.labels && dataset.classNames.length >= 2) {
      const labels = dataset.labels;
      const score = (groups: Int32Array) => ({ ari: adjustedRandIndex(groups, labels), purity: purity(groups, labels) });
      agreement = { k: analysis.k, trained: null, untrained: null, pixels: null };
      agreement[request.representation] = score(analysis.groups);
      for (const other of (['trained', 'untrained', 'pixels'] as const).filter((r) => r !== request.representation)) {
        const otherEncoder = frozenEncoder(run, other);
        try {
          const { vectors: v, dim: d } = await representationOf(work, other, otherEncoder);
          signal.throwIfAborted();
          work.progress({ stage: 'agreement', representation: other, done: 0, total: 1 });
          agreement[other] = score(kMeans(centredUnitRows(v, d, meanRow(v, d)), d, analysis.k, seed).assignments);
        } finally {
          otherEncoder?.dispose();
        }
      }
    }
    const thumbs = thumbnails(dataset);
    const result: ExploreResult = {
      representation: request.representation,
      step,
      count: dataset.count,
      dim,
      vectors,
      neighbours: analysis.neighbours,
      outlierScores: analysis.outlierScores,
      k: analysis.k,
      groups: analysis.groups,
      sizes: analysis.sizes,
      typical: analysis.typical,
      suggestion: analysis.suggestion,
      coords: analysis.coords,
      agreement,
      names: dataset.names.slice(),
      labels: dataset.labels ? dataset.labels.slice() : null,
      classNames: dataset.classNames.slice(),
      thumbnails: thumbs.pixels,
      thumbnailSide: thumbs.side,
      channels: dataset.channels,
      timings: { embeddingMs: embeddedMs, totalMs: now() - started },
    };
    return { result, kept: { representation: request.representation, runId: run.id, step, vectors: centred, mean, dim, encoder } };
  } catch (e) {
    encoder?.dispose();
    throw e;
  }
}

/**
 * The images nearest to one from outside the set, whose pixels were decoded and resized as the set's were, under the
 * kept representation (with the frozen encoder it was computed with).
 */
export async function searchByImage(dataset: DatasetPayload, kept: KeptRepresentation, pixels: Uint8Array, k: number): Promise<{ index: number; similarity: number }[]> {
  const { imageSize, channels } = dataset;
  const bytes = imageSize * imageSize * channels;
  if (pixels.length !== bytes) throw new RangeError(`the image has ${pixels.length} bytes, the set's have ${bytes}`);
  const h = kept.encoder ? await embedImages(kept.encoder, pixels, [0], imageSize, channels, 1) : pooledPixelVectors(pixels, [0], imageSize, channels, RAW_SIDE).vectors;
  const found = await cosineTopK(kept.vectors, centredUnitRows(h, kept.dim, kept.mean), kept.dim, k, false);
  return Array.from(found.indices, (index, j) => ({ index, similarity: found.similarities[j]! }));
}
