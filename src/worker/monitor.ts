// Watching a run learn: a fixed probe set embedded every so often and projected to 2-D, kNN accuracy and a linear
// probe's on a held-out labelled split next to two baselines, and nearest neighbours under the current encoder.
import type * as tf from '@tensorflow/tfjs';
import { embedImages, pooledPixelVectors, rawPixelVectors } from '../engine/embed';
import { knnAccuracy, nearestNeighbours, splitForKnn, type KnnSplit } from '../engine/knn';
import { linearProbeAccuracy } from '../engine/linearProbe';
import { pca2d } from '../engine/pca';
import { Random } from '../engine/random';
import { umap2d } from '../engine/umap';
import type { DatasetPayload, MonitorSettings, ProbeSet, SnapshotReport } from './protocol';

/** Memory and query images of the kNN monitor, capped so a snapshot stays cheap next to training. */
const KNN_LIMITS = { maxMemory: 2000, maxQueries: 500 };
/** The linear probe's raw-pixel baseline sees images of at most this side (larger ones averaged down). */
const PROBE_RAW_SIDE = 32;

/** Held-out accuracy of one representation: kNN (k = 20, cosine) and the linear probe, on the same split. */
export interface Evaluation {
  knn: number;
  probe: number;
}

/** The held-out split, or null (no kNN) when no class has the two images a split needs. */
function knnSplitOrNull(labels: Int32Array, rng: Random): KnnSplit | null {
  const perClass = new Map<number, number>();
  for (const label of labels) perClass.set(label, (perClass.get(label) ?? 0) + 1);
  return [...perClass.values()].some((n) => n >= 2) ? splitForKnn(labels, rng, KNN_LIMITS) : null;
}

export class RunMonitor {
  /** Dataset indices of the probe images, in map order. */
  readonly probe: number[];
  readonly knnSplit: KnnSplit | null;
  private readonly classes: number;
  /** Probe representations at `embeddedAt` (a step), reused by neighbour queries until the encoder changes. */
  private probeVectors: { step: number; vectors: Float32Array; dim: number } | null = null;

  constructor(
    private readonly dataset: DatasetPayload,
    readonly settings: MonitorSettings,
    /** Images per embedding batch: the run's batch, lowered with it after running out of GPU memory. */
    public batchSize: number,
    private readonly seed: number,
  ) {
    const rng = new Random(seed ^ 0x9e3779b9);
    this.probe = rng.permutation(dataset.count).slice(0, Math.min(settings.probeCount, dataset.count)).sort((a, b) => a - b);
    this.classes = dataset.classNames.length;
    this.knnSplit = dataset.labels && this.classes >= 2 ? knnSplitOrNull(dataset.labels, rng) : null;
  }

  /** The probe images' pixels and labels, for the page's thumbnails (sent once per run). */
  probeSet(): ProbeSet {
    const { imageSize, channels, pixels, labels, classNames } = this.dataset;
    const bytes = imageSize * imageSize * channels;
    const out = new Uint8Array(this.probe.length * bytes);
    this.probe.forEach((index, i) => out.set(pixels.subarray(index * bytes, (index + 1) * bytes), i * bytes));
    return {
      indices: Int32Array.from(this.probe),
      pixels: out,
      imageSize,
      channels,
      labels: labels ? Int32Array.from(this.probe, (i) => labels[i]!) : null,
      classNames,
    };
  }

  private embed(encoder: tf.LayersModel, indices: number[], signal?: AbortSignal): Promise<Float32Array> {
    const { pixels, imageSize, channels } = this.dataset;
    return embedImages(encoder, pixels, indices, imageSize, channels, this.batchSize, signal);
  }

  private labelsOf(indices: number[]): Int32Array {
    return Int32Array.from(indices, (i) => this.dataset.labels![i]!);
  }

  /**
   * kNN accuracy and the linear probe's (fitted on the memory images, scored on the queries) of given representations;
   * the probe may see another representation of the same images (raw pixels averaged down).
   */
  private async evaluateVectors(memory: Float32Array, queries: Float32Array, dim: number, probe = { memory, queries, dim }): Promise<Evaluation> {
    const split = this.knnSplit!;
    const memoryLabels = this.labelsOf(split.memory);
    const queryLabels = this.labelsOf(split.queries);
    const knn = await knnAccuracy(memory, memoryLabels, queries, queryLabels, dim, this.classes);
    const linear = await linearProbeAccuracy(probe.memory, memoryLabels, probe.queries, queryLabels, probe.dim, this.classes);
    return { knn, probe: linear };
  }

  /** Held-out accuracy of the encoder's representation; null without labels. */
  async evaluateEncoder(encoder: tf.LayersModel, signal?: AbortSignal): Promise<Evaluation | null> {
    const split = this.knnSplit;
    if (!split) return null;
    const memory = await this.embed(encoder, split.memory, signal);
    const queries = await this.embed(encoder, split.queries, signal);
    return this.evaluateVectors(memory, queries, memory.length / split.memory.length);
  }

  /** Held-out accuracy of raw pixels: the baseline any learnt representation should be compared with. */
  async evaluateRawPixels(): Promise<Evaluation | null> {
    const split = this.knnSplit;
    if (!split) return null;
    const { pixels, imageSize, channels } = this.dataset;
    const dim = imageSize * imageSize * channels;
    const pooledMemory = pooledPixelVectors(pixels, split.memory, imageSize, channels, PROBE_RAW_SIDE);
    const pooledQueries = pooledPixelVectors(pixels, split.queries, imageSize, channels, PROBE_RAW_SIDE);
    return this.evaluateVectors(rawPixelVectors(pixels, split.memory, imageSize, channels), rawPixelVectors(pixels, split.queries, imageSize, channels), dim, {
      memory: pooledMemory.vectors,
      queries: pooledQueries.vectors,
      dim: pooledMemory.dim,
    });
  }

  /** The probe set's 2-D map and the held-out accuracies under the encoder as it is at `step`. */
  async snapshot(encoder: tf.LayersModel, step: number, signal?: AbortSignal): Promise<SnapshotReport> {
    const { vectors, dim } = await this.embedProbe(encoder, step, signal);
    const coords = await pca2d(vectors, this.probe.length, dim);
    const evaluation = await this.evaluateEncoder(encoder, signal);
    return { step, coords, knnAccuracy: evaluation?.knn ?? null, probeAccuracy: evaluation?.probe ?? null, method: 'pca' };
  }

  /** The same with UMAP, stepped so that progress shows and other messages get through. */
  async umapSnapshot(encoder: tf.LayersModel, step: number, options: Parameters<typeof umap2d>[4]): Promise<SnapshotReport> {
    const { vectors, dim } = await this.embedProbe(encoder, step);
    const coords = await umap2d(vectors, this.probe.length, dim, this.seed, options);
    const evaluation = await this.evaluateEncoder(encoder);
    return { step, coords, knnAccuracy: evaluation?.knn ?? null, probeAccuracy: evaluation?.probe ?? null, method: 'umap' };
  }

  private async embedProbe(encoder: tf.LayersModel, step: number, signal?: AbortSignal): Promise<{ vectors: Float32Array; dim: number }> {
    if (!this.probeVectors || this.probeVectors.step !== step) {
      const vectors = await this.embed(encoder, this.probe, signal);
      this.probeVectors = { step, vectors, dim: vectors.length / Math.max(1, this.probe.length) };
    }
    return this.probeVectors;
  }

  /** The k probe images most similar to probe image `position`, under the encoder as it is at `step`. */
  async neighbours(encoder: tf.LayersModel, step: number, position: number, k: number): Promise<{ position: number; similarity: number }[]> {
    if (!(position >= 0 && position < this.probe.length)) throw new RangeError(`no probe image ${position}`);
    const { vectors, dim } = await this.embedProbe(encoder, step);
    const found = await nearestNeighbours(vectors, dim, position, Math.min(k, this.probe.length - 1));
    return found.map((n) => ({ position: n.index, similarity: n.similarity }));
  }
}
