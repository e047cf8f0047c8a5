// The one message contract between the page and the trainer worker, both directions. Every payload is tied to
// its `type`, so a switch over `type` narrows it with no cast; large arrays travel as transferred typed arrays.
import type { DatabaseStatus } from '../data/database';
import type { ImportCounts, ImportFile, SkippedFile } from '../data/importer';
import type { ExportFile } from '../export/bundle';
import type { DatasetSource, RunHistory, RunSummary } from '../export/checkpoints';
import type { AugmentConfig, TrainConfig } from '../engine/config';
import type { Analysis } from '../engine/explore/analyse';
import type { AgreementCheck, TrainingCheck } from '../engine/selftest';
import type { StepMetrics } from '../engine/step';

export type BackendName = 'webgpu' | 'webgl';
export type BackendPreference = BackendName | 'auto';

/** What the worker runs on, as the status bar shows it. */
export interface BackendReport {
  backend: BackendName;
  vendor: string;
  architecture: string;
  /** Device or renderer name, where the browser tells it. */
  device: string;
  /** A software adapter (SwiftShader and the like): correct, but one or two orders of magnitude slower. */
  isFallbackAdapter: boolean;
  /** The global scope tfjs runs in: 'DedicatedWorkerGlobalScope' proves it is off the page. */
  scope: string;
  /** Why WebGPU was not used when the backend is WebGL. */
  fallbackReason: string | null;
  /**
   * Why this backend and not the other, when both could have run and the choice was not obvious (a software adapter);
   * null otherwise. Shown in the status bar after the backend's name.
   */
  choice: string | null;
  /** The most bytes one tensor may take on this device (buffer binding or texture limit); null when unknown. */
  maxBufferBytes: number | null;
}

/** A known computation run on the chosen backend right after start-up. */
export interface KnownResultCheck {
  expression: string;
  expected: number[];
  actual: number[];
  ok: boolean;
}

/** Decoded images at the training resolution, uint8 NHWC, with optional labels (for evaluation only). */
export interface DatasetPayload {
  name: string;
  pixels: Uint8Array;
  count: number;
  imageSize: number;
  channels: 1 | 3;
  /** Index into classNames per image, or null when the images carry no labels. */
  labels: Int32Array | null;
  classNames: string[];
  /** Per image, its path in what the user chose (or its name in the sample set). */
  names: string[];
  /** Where the images can be read again, for resuming a checkpointed run after a reload; absent when nowhere. */
  source?: DatasetSource;
}

/** A model loaded from a downloaded zip, as the page shows it. */
export interface LoadedModelSummary {
  fileName: string;
  config: TrainConfig;
  step: number;
  version: string;
  hasHead: boolean;
  /** Whether the images loaded now have the model's input size and channels. */
  fitsImages: boolean;
}

/** A fault the trainer met and what it did about it. */
export interface FaultReport {
  kind: 'non-finite' | 'exploding' | 'device-lost' | 'out-of-memory' | 'gpu-error';
  message: string;
  /** The step the fault happened at. */
  step: number;
  /** The run affected, if one was active. */
  runId: string | null;
  /** The step the run went back to (non-finite losses, exploding gradients), null when the worker could not restore it itself. */
  restoredStep: number | null;
  /** The learning rate from now on, when it was lowered. */
  learningRate: number | null;
  /** The batch to go on with (out of memory), null when there is no smaller one to offer. */
  suggestedBatch: number | null;
}

/** What the page learns about a loaded data set (the pixels stay in the worker). */
export interface DatasetSummary {
  name: string;
  count: number;
  imageSize: number;
  channels: 1 | 3;
  classNames: string[];
  labelled: boolean;
}

/** Most images a map shows: enough to see structure, few enough to embed between steps. */
export const MAX_PROBE_IMAGES = 2000;

/** How the run is watched: a snapshot of the probe set every `snapshotEvery` steps (and at the end). */
export interface MonitorSettings {
  snapshotEvery: number;
  probeCount: number;
  /** Time each step's phases (augment, forward+backward, update); costs two GPU round trips a step. For benchmarks. */
  profileSteps: boolean;
}

/** The fixed images a run's embedding map shows, with their pixels for thumbnails. */
export interface ProbeSet {
  /** Dataset indices, in map order. */
  indices: Int32Array;
  pixels: Uint8Array;
  imageSize: number;
  channels: 1 | 3;
  labels: Int32Array | null;
  classNames: string[];
}

export interface SnapshotReport {
  step: number;
  /** 2-D position of each probe image, x and y interleaved. */
  coords: Float32Array;
  /** kNN accuracy (k = 20, cosine) of the held-out labelled images; null without labels. */
  knnAccuracy: number | null;
  /**
   * Accuracy of a linear probe (logistic regression on the frozen representation, src/engine/linearProbe.ts) fitted
   * on the kNN memory images and scored on the same held-out images; null without labels. Absent from snapshots saved
   * before the probe existed.
   */
  probeAccuracy?: number | null;
  method: 'pca' | 'umap';
}

/** The two references a trained encoder must beat: the same encoder untrained, and raw pixels. */
export interface EvaluationBaselines {
  randomInit: number;
  rawPixels: number;
}

export type TrainerState = 'idle' | 'compiling' | 'training' | 'paused' | 'stopped';

/** What a step's report keeps in a checkpoint: everything the curves draw. */
export type RecordedStep = Omit<StepReport, 'memory' | 'timings'>;

export interface StepReport extends StepMetrics {
  /** Source images per second over this step (each image is seen as two views). */
  imagesPerSec: number;
  stepMs: number;
  totalSteps: number;
  /** Live tensors and the bytes the backend holds on the GPU after the step: flat from step to step in a healthy run. */
  memory: MemoryReport;
}

export interface MemoryReport {
  numTensors: number;
  /** Bytes of GPU buffers (WebGPU) or textures (WebGL) in use; null on the CPU backend. */
  gpuBytes: number | null;
}

/** What a run costs, sent once its pipelines are compiled. */
export interface RunInfo {
  parameters: number;
  /** Floating-point operations of one training step (src/engine/flops.ts). */
  flopsPerStep: number;
  /** Time to compile the GPU pipelines before step 1. */
  compileMs: number;
}

/** What the Explore panel looks at: the run's encoder as it is now, the same encoder as it started, or raw pixels. */
export type Representation = 'trained' | 'untrained' | 'pixels';

export interface ExploreRequest {
  representation: Representation;
  /** k-means groups; null: suggested by silhouette. */
  k: number | null;
  /** Nearest neighbours kept per image. */
  neighbours: number;
}

export interface ExploreProgress {
  stage: 'embedding' | 'neighbours' | 'groups' | 'map' | 'agreement';
  representation: Representation;
  done: number;
  total: number;
}

/** How well k-means groups (the same k) match the labels under each representation; null where not measured. */
export interface ExploreAgreement {
  k: number;
  trained: { ari: number; purity: number } | null;
  untrained: { ari: number; purity: number } | null;
  pixels: { ari: number; purity: number } | null;
}

/**
 * The whole folder explored under one representation: the analysis (neighbours, outliers, groups, map) with what the
 * page shows it with. Per-image arrays are in data-set order.
 */
export interface ExploreResult extends Analysis {
  representation: Representation;
  /** The run's step the encoder was at. */
  step: number;
  count: number;
  dim: number;
  /** count × dim, L2-normalised rows. */
  vectors: Float32Array;
  agreement: ExploreAgreement | null;
  names: string[];
  labels: Int32Array | null;
  classNames: string[];
  /** uint8 NHWC thumbnails of every image, `thumbnailSide` a side. */
  thumbnails: Uint8Array;
  thumbnailSide: number;
  channels: 1 | 3;
  timings: { embeddingMs: number; totalMs: number };
}

export type ErrorCode =
  | 'no-backend' // neither WebGPU nor WebGL could be started
  | 'bad-config' // a setting out of range; message says which
  | 'no-dataset' // training asked for before images were loaded, or too few images
  | 'dataset-failed' // images could not be read
  | 'busy' // the request conflicts with work in progress: wait for it (or stop it), then ask again
  | 'no-run' // the request needs a run (or a paused one) and there is none
  | 'training-failed' // an exception inside a step
  | 'bad-model' // a model zip that is not tabclr's, is cut short or contradicts itself
  | 'internal';

/** The worker's two databases, as the page names them: the decode cache, and the saved runs' checkpoints. */
export type StoreName = 'image-cache' | 'checkpoints';

export type ToWorker =
  /**
   * restarted: the page replaced a trainer that failed. testQuery: the page's URL query, which a build made for the
   * browser tests reads (src/worker/faults.ts) and any other build ignores.
   */
  | { type: 'init'; backend: BackendPreference; restarted?: boolean; testQuery?: string }
  | { type: 'set-dataset'; dataset: DatasetPayload }
  /** Load the built-in sample set; url is relative to the page. */
  | { type: 'load-sample'; url: string }
  /** Decode the user's files at imageSize; name describes them ('photos', '12 files'). */
  | { type: 'import'; files: ImportFile[]; imageSize: number; name: string }
  | { type: 'cancel-import' }
  | { type: 'clear-cache' }
  /** checkpointEvery: save the run every so many steps (and on pause and at the end); 0 turns checkpoints off. */
  | { type: 'start'; config: TrainConfig; steps: number; monitor: MonitorSettings; checkpointEvery: number }
  | { type: 'list-runs' }
  /** Load a saved run: it continues training where its checkpoint left off, or opens for looking when finished. */
  | { type: 'resume-run'; id: string }
  | { type: 'delete-run'; id: string }
  /** A downloaded model zip: it embeds the images from now on, and the next run starts from its weights. */
  | { type: 'load-model'; bytes: Uint8Array; fileName: string; monitor: MonitorSettings }
  | { type: 'forget-model' }
  | { type: 'pause' }
  /** batchSize: go on at this batch (the out-of-memory fault's suggestion); the run keeps its weights and place. */
  | { type: 'resume'; batchSize?: number }
  | { type: 'stop' }
  | { type: 'self-test'; steps: number }
  /** `count` images of the data set, each augmented twice with `augment`, to show what the views look like. */
  | { type: 'preview-augment'; augment: AugmentConfig; count: number; seed: number }
  /** The trained encoder (and optionally the projection head) as files to zip. */
  | { type: 'export-model'; includeHead: boolean }
  /** The representation of every image, for TensorFlow's Embedding Projector. */
  | { type: 'export-embeddings' }
  /** A snapshot now, projected with UMAP instead of PCA. */
  | { type: 'umap-snapshot' }
  /** The k probe images nearest to probe image `position` under the current encoder. */
  | { type: 'neighbours'; position: number; k: number }
  /** The best matmul rate of the backend (square matrices of `size`), a yardstick for a step's achieved FLOP/s. */
  | { type: 'measure-matmul'; size: number; repeats: number }
  /** The whole folder under one representation: neighbours, outliers, groups, a map (src/worker/explore.ts). */
  | { type: 'explore'; request: ExploreRequest }
  | { type: 'cancel-explore' }
  /** An image from outside the set, decoded and resized as the set was: its k nearest images under the last explored representation. */
  | { type: 'explore-search'; pixels: Uint8Array; k: number };

export type FromWorker =
  | { type: 'ready'; backend: BackendReport; check: KnownResultCheck }
  /** The data set training will use; null after an import that left too few usable images. */
  | { type: 'dataset'; dataset: DatasetSummary | null }
  | { type: 'import-progress'; counts: ImportCounts; elapsedMs: number }
  | { type: 'import-done'; counts: ImportCounts; skipped: SkippedFile[]; elapsedMs: number; cacheProblem: string | null }
  | { type: 'import-cancelled' }
  | { type: 'cache-cleared' }
  /** runId: the run the state belongs to (null with no run). */
  | { type: 'state'; state: TrainerState; step: number; runId: string | null }
  | { type: 'metrics'; report: StepReport }
  | { type: 'run-info'; info: RunInfo }
  /** The model loaded from a zip (null once forgotten), and whether the loaded images suit it. */
  | { type: 'model-loaded'; model: LoadedModelSummary | null }
  | { type: 'fault'; fault: FaultReport }
  /** The run went back to an earlier step (after a non-finite loss or exploding gradients): the curves keep these steps only. */
  | { type: 'run-rewound'; step: number; history: RecordedStep[] }
  /** Saved runs, newest first; sent on request and whenever the list changes. */
  | { type: 'runs'; runs: RunSummary[]; available: boolean }
  | { type: 'checkpoint'; status: 'saving' | 'saved' | 'failed'; runId: string; step: number; message: string | null }
  /** A saved run was loaded: the page takes its settings and history; probe, baselines and snapshots follow. */
  | { type: 'run-restored'; run: RunSummary; config: TrainConfig; monitor: MonitorSettings; checkpointEvery: number; history: RunHistory['steps'] }
  | { type: 'matmul-rate'; size: number; flopsPerSec: number }
  | { type: 'probe'; probe: ProbeSet }
  /** Pairs of views: image i's two views are images 2i and 2i + 1. */
  | { type: 'augment-preview'; pixels: Uint8Array; count: number; imageSize: number; channels: 1 | 3 }
  /**
   * kNN accuracy of the untrained encoder and of raw pixels, computed once at the start of a labelled run, and the
   * linear probe's on the same two (absent in runs saved before the probe existed).
   */
  | { type: 'baselines'; randomInit: number; rawPixels: number; probe?: EvaluationBaselines }
  | { type: 'snapshot'; snapshot: SnapshotReport }
  | { type: 'umap-progress'; epoch: number; epochs: number }
  | { type: 'export-progress'; kind: 'model' | 'embeddings'; done: number; total: number }
  /** Files for the page to zip and save as `fileName`. */
  | { type: 'export'; kind: 'model' | 'embeddings'; fileName: string; files: ExportFile[] }
  | { type: 'neighbours'; position: number; step: number; neighbours: { position: number; similarity: number }[] }
  | { type: 'explore-progress'; progress: ExploreProgress }
  | { type: 'explore-result'; result: ExploreResult }
  /** The exploration stopped: `reason` is 'cancelled' when the person asked, else what made it stale (other images loaded). */
  | { type: 'explore-cancelled'; reason: string }
  /** Under the representation last explored, with the encoder as it was at `step` then. */
  | { type: 'explore-search-result'; representation: Representation; step: number; neighbours: { index: number; similarity: number }[] }
  | { type: 'self-test-progress'; stage: 'training' | 'agreement'; step: number; total: number }
  | { type: 'self-test-result'; training: TrainingCheck; agreement: AgreementCheck }
  /**
   * A database's status when it changes (src/data/database.ts): 'open' (usable; clears the others); 'blocked' (another
   * tab holds an older version open, so this tab goes on without it until that tab closes); 'replaced' (a newer
   * version in another tab took it over: this tab can no longer use it, and must reload).
   */
  | { type: 'storage'; store: StoreName; status: DatabaseStatus }
  /** `request` names the message that failed, so the page can settle that request's own state. */
  | { type: 'error'; code: ErrorCode; message: string; recoverable: boolean; request: ToWorker['type'] | null };

/** Post function the handler uses; the worker entry binds it to postMessage with transfers. */
export type Post = (message: FromWorker, transfer?: Transferable[]) => void;
