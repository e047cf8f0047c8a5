// What the trainer's handler needs from where it runs: the worker gives it the browser's (src/worker/trainer.worker.ts),
// the unit tests a fake on the tfjs CPU backend (src/worker/handler.test.ts).
import type { ImportCounts, ImportFile, ImportResult } from '../data/importer';
import type { TrainableParam } from '../engine/optim';
import type { CheckpointStorage } from '../export/checkpoints';
import type { BackendPreference, BackendReport, DatasetPayload, KnownResultCheck } from './protocol';

export interface HandlerEnvironment {
  selectBackend(preference: BackendPreference): Promise<BackendReport>;
  runKnownResult(): Promise<KnownResultCheck>;
  loadSample(url: string): Promise<DatasetPayload>;
  importImages(
    files: ImportFile[],
    options: { imageSize: number; name: string; signal: AbortSignal; onProgress(counts: ImportCounts): void; memoryBudget?: number },
  ): Promise<ImportResult>;
  clearCache(): Promise<void>;
  /** A PNG grid of the data set's images (OffscreenCanvas in the browser). */
  spritePng(dataset: DatasetPayload, thumb: number, columns: number): Promise<Uint8Array>;
  /**
   * The checkpoint store, or null where the browser keeps none (IndexedDB unavailable). Opened once. Its calls throw
   * StorageUnavailable (src/data/database.ts) while another tab's version keeps it from this one.
   */
  openCheckpoints(): Promise<CheckpointStorage | null>;
  /**
   * Calls lost once if the GPU goes (a WebGPU device lost or a WebGL context lost: driver reset, device.destroy()),
   * and error whenever the WebGPU device reports an error no one caught (out of memory, a refused pipeline).
   */
  watchDevice(watcher: DeviceWatcher): void;
  /** Called before each training step with the parameters it will update; test builds inject faults here (faults.ts). */
  beforeStep?(step: number, params: TrainableParam[]): void;
  /**
   * Awaited before each chunk of images an exploration embeds; test builds hold it there (faults.ts), so that a test
   * can act while an exploration is certainly under way. Resolves early once `signal` aborts.
   */
  beforeExploreChunk?(signal: AbortSignal): Promise<void>;
  /**
   * Visits the RGB pixels of decoded images in the decode cache, by cache key: visit(i, pixels) for keys[i], null for
   * one no longer there. A few hundred at a time, so the caller can copy them into place without holding them all.
   * Throws StorageUnavailable when the cache cannot be read now (another tab's version in the way, IndexedDB missing).
   */
  readCachedImages(keys: string[], visit: (index: number, pixels: Uint8Array | null) => void): Promise<void>;
  now(): number;
  /** Resolves in a later task, so that messages (pause, stop) are handled between steps even when no step awaits the GPU. */
  nextTask(): Promise<void>;
}

export interface DeviceWatcher {
  lost(reason: string): void;
  /** An error the device reports on its own (WebGPU's uncaptured errors): the computations it hit are undefined. */
  error(kind: GpuErrorKind, message: string): void;
}

/** WebGPU's error classes: GPUOutOfMemoryError, GPUValidationError, GPUInternalError. */
export type GpuErrorKind = 'out-of-memory' | 'validation' | 'internal';
