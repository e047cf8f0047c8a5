// The trainer's state machine: a plain class the worker entry feeds with messages and unit tests drive directly.
import * as tf from '@tensorflow/tfjs';
import type { ImportCounts, ImportFile, ImportResult } from '../data/importer';
import { EpochSampler, gatherBatch } from '../engine/batches';
import { augmentedPairs } from '../engine/augment';
import { defaultTrainConfig, validateTrainConfig, type AugmentConfig, type TrainConfig } from '../engine/config';
import { Random } from '../engine/random';
import { checkBackendAgreement, checkTraining } from '../engine/selftest';
import { stepFlops } from '../engine/flops';
import { explodingLimit, recentGradNorm } from '../engine/divergence';
import { bufferLimitProblem } from '../engine/memory';
import { countParams } from '../engine/model';
import { compilePipelines, createTrainState, disposeTrainState, settled, trainStep, type StepMetrics, type TrainState } from '../engine/step';
import { embeddingsBundle, modelBundle } from '../export/bundle';
import { TORCH_MODULE_SOURCE } from '../export/torchModule';
import { storageProblem } from '../export/checkpoints';
import { cacheKey } from '../data/files';
import { restoreTrainState, snapshotTrainState, writeWeights } from '../engine/snapshot';
import { ModelZipError, readModelZip, type LoadedModel } from '../export/modelZip';
import { TrainerError } from './errors';
import { RunMonitor } from './monitor';
import { newRun, type Run } from './run';
import type { GpuErrorKind, HandlerEnvironment } from './environment';
import { RunArchive, summaryOf } from './runArchive';
import { MAX_PROBE_IMAGES, type BackendPreference, type BackendReport, type DatasetPayload, type FromWorker, type KnownResultCheck, type LoadedModelSummary, type MemoryReport, type MonitorSettings, type Post, type RecordedStep, type TestHooks, type ToWorker, type TrainerState } from './protocol';


/** Same layers and shapes: a loaded model's weights fit a model built from the other config. */
function sameArchitecture(a: TrainConfig, b: TrainConfig): boolean {
  const keys = ['encoder', 'width', 'imageSize', 'channels', 'headLayers', 'projectionDim'] as const;
  return keys.every((k) => a.model[k] === b.model[k]);
}

function describeArchitecture(config: TrainConfig): string {
  const m = config.model;
  return `${m.encoder} (width ${m.width}, ${m.imageSize} px × ${m.channels}, head ${m.headLayers} layers → ${m.projectionDim})`;
}

/** Puts a loaded model's encoder (and head, when it has one) into a train state; every encoder weight must be there. */
function applyLoadedWeights(state: TrainState, loaded: LoadedModel): void {
  const given = new Set(loaded.encoder.map((w) => w.name));
  const missing = state.model.encoder.weights.map((w) => w.originalName).filter((name) => !given.has(name));
  if (missing.length) throw new Error(`the encoder lacks ${missing.length} weights (${missing.slice(0, 3).join(', ')}…)`);
  writeWeights(state.model, [...loaded.encoder, ...(loaded.head ?? [])], { partial: true });
}

/** With checkpoints off, how often the last good state is still kept in memory (for a non-finite loss to go back to). */
const IN_MEMORY_EVERY = 50;

/** Live tensors and GPU bytes, whatever the backend calls them. */
export function memoryReport(): MemoryReport {
  const info = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return { numTensors: info.numTensors, gpuBytes: typeof info.numBytesInGPU === 'number' ? info.numBytesInGPU : null };
}

export class TrainerHandler {
  private backend: BackendReport | null = null;
  private dataset: DatasetPayload | null = null;
  private run: Run | null = null;
  private trainerState: TrainerState = 'idle';
  /** The work in flight (compilation, then steps), chained so two loops never run at once; pause and stop land between steps. */
  private loop: Promise<void> = Promise.resolve();
  private selfTesting = false;
  /** The last step's metrics, for the exported config. */
  private lastMetrics: StepMetrics | null = null;
  private importing: AbortController | null = null;
  /** An import or sample load in flight: the data set is about to change, so training cannot start. */
  private loadingData = false;
  /** A saved run or a model zip being loaded: until it is in place, nothing else may change the run or the images. */
  private switching = false;
  /** Set from a stop's request until its run is disposed: the run still counts as active meanwhile. */
  private stopping = false;
  /** Requests that use the run's model between steps (neighbours, UMAP), chained; a stop waits for them. */
  private sideWork: Promise<void> = Promise.resolve();
  private hooks: TestHooks = {};
  /** A model loaded from a zip: maps and embeddings use it, and the next run starts from its weights. */
  private loadedModel: LoadedModel | null = null;
  /** The saved runs in IndexedDB. */
  private readonly archive: RunArchive;

  constructor(
    private readonly post: Post,
    private readonly env: HandlerEnvironment,
  ) {
    this.archive = new RunArchive(env, () => this.hooks);
  }

  /** Requests that change the run or the images, refused while a saved run or a model zip is being loaded. */
  private static readonly SWITCHES = new Set<ToWorker['type']>(['set-dataset', 'load-sample', 'import', 'start', 'self-test', 'resume-run', 'load-model']);

  async handle(message: ToWorker): Promise<void> {
    try {
      if (this.switching && TrainerHandler.SWITCHES.has(message.type)) {
        throw new TrainerError('busy', 'wait until the saved run or the model is loaded');
      }
      switch (message.type) {
        case 'init':
          this.hooks = message.hooks ?? {};
          return await this.init(message.backend);
        case 'set-dataset':
          return await this.setDataset(message.dataset);
        case 'load-sample':
          return await this.loadSample(message.url);
        case 'import':
          return await this.importFiles(message.files, message.imageSize, message.name);
        case 'cancel-import':
          return this.importing?.abort();
        case 'clear-cache':
          await this.env.clearCache();
          return this.send({ type: 'cache-cleared' });
        case 'start':
          return await this.start(message.config, message.steps, message.monitor, message.checkpointEvery);
        case 'list-runs':
          return await this.sendRuns();
        case 'resume-run':
          return await this.resumeRun(message.id);
        case 'delete-run':
          return await this.deleteRun(message.id);
        case 'load-model':
          return await this.loadModel(message.bytes, message.fileName, message.monitor);
        case 'forget-model':
          this.loadedModel = null;
          return this.send({ type: 'model-loaded', model: null });
        case 'pause':
          return this.pause();
        case 'resume':
          return this.resume(message.batchSize);
        case 'stop':
          return await this.stop();
        case 'self-test':
          return await this.selfTest(message.steps);
        case 'neighbours':
          return await this.besideTraining(() => this.neighbours(message.position, message.k));
        case 'umap-snapshot':
          return await this.besideTraining(() => this.umapSnapshot());
        case 'export-model':
          return await this.besideTraining(() => this.exportModel(message.includeHead));
        case 'export-embeddings':
          return await this.besideTraining(() => this.exportEmbeddings());
        case 'preview-augment':
          return await this.besideTraining(() => this.previewAugment(message.augment, message.count, message.seed));
        case 'measure-matmul':
          return await this.measureMatmul(message.size, message.repeats);
        default: {
          const never: never = message;
          throw new TrainerError('internal', `unknown message ${JSON.stringify(never)}`);
        }
      }
    } catch (e) {
      this.reportError(e, message.type);
    }
  }

  /** Resolves when the training loop (if any) has finished its current step and exited. */
  async idle(): Promise<void> {
    // Work chained on while waiting (a pause's checkpoint) counts too.
    for (let loop = this.loop; ; loop = this.loop) {
      await loop;
      if (loop === this.loop) return;
    }
  }

  private send(message: FromWorker, transfer?: Transferable[]): void {
    this.post(message, transfer);
  }

  private reportError(e: unknown, request: ToWorker['type'] | null = null): void {
    if (e instanceof TrainerError) {
      this.send({ type: 'error', code: e.code, message: e.message, recoverable: e.recoverable, request });
    } else {
      const error = e instanceof Error ? e : new Error(String(e));
      this.send({ type: 'error', code: 'internal', message: error.message, recoverable: true, request });
    }
  }

  private setState(state: TrainerState): void {
    this.trainerState = state;
    this.send({ type: 'state', state, step: this.run?.state.step ?? 0, runId: this.run?.id ?? null });
  }

  /** A run that is compiling, training, paused or being stopped (a finished or stopped run is kept for its results). */
  private isActive(): boolean {
    return this.stopping || (this.run !== null && this.trainerState !== 'stopped');
  }

  /**
   * Work that uses the model beside the training loop, one request at a time. Refused during the self-test, which
   * switches tfjs to the CPU backend for a moment (GPU tensors touched then would be moved with a synchronous read).
   */
  private besideTraining(work: () => Promise<void>): Promise<void> {
    if (this.selfTesting) return Promise.reject(new TrainerError('busy', 'wait for the self-test to finish'));
    const next = this.sideWork.then(work);
    this.sideWork = next.catch(() => undefined);
    return next;
  }

  /** Disposes the run once the loop and any side request using its model are done. */
  private async retireRun(): Promise<void> {
    await this.loop;
    await this.sideWork;
    this.disposeRun();
  }

  private requireBackend(): void {
    if (!this.backend) throw new TrainerError('busy', 'the trainer is still starting its GPU backend');
  }

  private async init(preference: BackendPreference): Promise<void> {
    if (this.backend) throw new TrainerError('busy', `the trainer already runs on ${this.backend.backend}`);
    const backend = await this.env.selectBackend(preference);
    let check: KnownResultCheck;
    try {
      check = await this.env.runKnownResult();
    } catch (e) {
      throw new TrainerError('no-backend', `${backend.backend} started but could not compute: ${(e as Error).message}`, false);
    }
    this.backend = backend;
    this.env.watchDevice({
      lost: (reason) => this.deviceLost(reason),
      error: (kind, message) => {
        this.gpuError ??= { kind, message };
      },
    });
    this.send({ type: 'ready', backend, check });
  }

  private async setDataset(dataset: DatasetPayload): Promise<void> {
    if (this.isActive()) throw new TrainerError('busy', 'stop training before loading other images');
    const expected = dataset.count * dataset.imageSize * dataset.imageSize * dataset.channels;
    if (dataset.pixels.length !== expected) {
      throw new TrainerError('dataset-failed', `image data has ${dataset.pixels.length} bytes, expected ${expected}`);
    }
    if (dataset.labels && dataset.labels.length !== dataset.count) {
      throw new TrainerError('dataset-failed', `${dataset.labels.length} labels for ${dataset.count} images`);
    }
    // A finished run's probe indices refer to the old images: it goes with them.
    await this.retireRun();
    this.dataset = dataset;
    const { name, count, imageSize, channels, classNames, labels } = dataset;
    this.send({ type: 'dataset', dataset: { name, count, imageSize, channels, classNames, labelled: labels !== null } });
    if (this.loadedModel) await this.openLoadedModel(this.loadedModel, this.loadedMonitor);
  }

  /** Minimum images for SimCLR: each image needs at least one other image as a negative. */
  static readonly MIN_IMAGES = 2;

  private async importFiles(files: ImportFile[], imageSize: number, name: string): Promise<void> {
    if (this.isActive()) throw new TrainerError('busy', 'stop training before loading other images');
    if (this.importing) throw new TrainerError('busy', 'an import is already running');
    if (!(Number.isInteger(imageSize) && imageSize >= 8 && imageSize <= 256)) {
      throw new TrainerError('bad-config', `image size must be a whole number of pixels from 8 to 256, got ${imageSize}`);
    }
    const controller = new AbortController();
    this.importing = controller;
    this.loadingData = true;
    const started = this.env.now();
    let lastReport = -Infinity;
    const onProgress = (counts: ImportCounts) => {
      const now = this.env.now();
      // At most ten progress messages a second, however fast files go by.
      if (now - lastReport < 100 && counts.processed < counts.found) return;
      lastReport = now;
      this.send({ type: 'import-progress', counts, elapsedMs: now - started });
    };
    let result: ImportResult;
    try {
      const { memoryBudgetBytes } = this.hooks;
      result = await this.env.importImages(files, { imageSize, name, signal: controller.signal, onProgress, ...(memoryBudgetBytes && { memoryBudget: memoryBudgetBytes }) });
    } catch (e) {
      if (controller.signal.aborted) return this.send({ type: 'import-cancelled' });
      throw new TrainerError('dataset-failed', `The images could not be imported: ${(e as Error).message}`);
    } finally {
      this.importing = null;
      this.loadingData = false;
    }
    const { skipped, counts, cacheProblem } = result;
    // The decoded images are in the cache under these keys: a saved run finds them there after a reload.
    const byPath = new Map(files.map((f) => [f.path, f.file]));
    const cacheKeys = result.dataset.names.map((path) => {
      const file = byPath.get(path);
      return file ? cacheKey(path, file.size, file.lastModified, imageSize) : '';
    });
    const dataset: DatasetPayload = {
      ...result.dataset,
      source: cacheProblem || cacheKeys.includes('') ? { kind: 'memory' } : { kind: 'files', cacheKeys },
    };
    this.send({ type: 'import-done', counts, skipped, elapsedMs: this.env.now() - started, cacheProblem });
    if (this.isActive()) throw new TrainerError('busy', 'training started during the import; stop it to use these images');
    if (dataset.count < TrainerHandler.MIN_IMAGES) {
      await this.retireRun();
      this.dataset = null;
      this.send({ type: 'dataset', dataset: null });
      const found = dataset.count === 0 ? 'No usable image' : 'Only one usable image';
      throw new TrainerError(
        'no-dataset',
        `${found} among the ${counts.found} files chosen. SimCLR learns by telling each image apart from the others, so it needs at least ${TrainerHandler.MIN_IMAGES} images.`,
      );
    }
    await this.setDataset(dataset);
  }

  private async loadSample(url: string): Promise<void> {
    if (this.isActive()) throw new TrainerError('busy', 'stop training before loading other images');
    let dataset: DatasetPayload;
    this.loadingData = true;
    try {
      dataset = { ...(await this.env.loadSample(url)), source: { kind: 'sample', url } };
    } catch (e) {
      throw new TrainerError('dataset-failed', `The sample images could not be loaded: ${(e as Error).message}`);
    } finally {
      this.loadingData = false;
    }
    await this.setDataset(dataset);
  }

  private async start(config: TrainConfig, steps: number, monitor: MonitorSettings, checkpointEvery: number): Promise<void> {
    this.requireBackend();
    if (this.selfTesting || this.isActive()) throw new TrainerError('busy', 'training is already running');
    if (this.loadingData) throw new TrainerError('busy', 'wait until the images are loaded');
    const dataset = this.dataset;
    if (!dataset) throw new TrainerError('no-dataset', 'load some images before training');
    const problems = validateTrainConfig(config).map((p) => p.message);
    if (!(Number.isInteger(steps) && steps >= 1)) problems.push(`steps must be a whole number ≥ 1, got ${steps}`);
    if (config.model.imageSize !== dataset.imageSize || config.model.channels !== dataset.channels) {
      problems.push(`the images are ${dataset.imageSize} px × ${dataset.channels} channels but the model expects ${config.model.imageSize} px × ${config.model.channels}`);
    }
    if (config.batchSize > dataset.count) problems.push(`batch size ${config.batchSize} is larger than the ${dataset.count} images`);
    if (!(Number.isInteger(monitor.snapshotEvery) && monitor.snapshotEvery >= 1)) {
      problems.push(`snapshot interval must be a whole number of steps ≥ 1, got ${monitor.snapshotEvery}`);
    }
    if (!(Number.isInteger(monitor.probeCount) && monitor.probeCount >= 2 && monitor.probeCount <= MAX_PROBE_IMAGES)) {
      problems.push(`the map shows from 2 to ${MAX_PROBE_IMAGES} images, got ${monitor.probeCount}`);
    }
    if (!(Number.isInteger(checkpointEvery) && checkpointEvery >= 0)) problems.push(`checkpoint interval must be a whole number of steps ≥ 0, got ${checkpointEvery}`);
    const limitProblem = bufferLimitProblem(config, this.backend!.maxBufferBytes);
    if (limitProblem) problems.push(limitProblem);
    const loaded = this.loadedModel;
    if (loaded && !sameArchitecture(loaded.config, config)) {
      problems.push(
        `the loaded model (${loaded.fileName}) is a ${describeArchitecture(loaded.config)} but the settings ask for a ${describeArchitecture(config)}: set them back, or forget the loaded model to start from scratch`,
      );
    }
    if (config.optim.totalSteps !== steps) problems.push(`the learning-rate schedule spans ${config.optim.totalSteps} steps but the run has ${steps}`);
    if (problems.length) throw new TrainerError('bad-config', problems.join('; '));

    // The previous (finished or stopped) run goes once nothing uses its model any more.
    this.stopping = true;
    try {
      await this.retireRun();
    } finally {
      this.stopping = false;
    }
    // Everything that can refuse the data comes before the model, so a refusal leaks nothing.
    const sampler = new EpochSampler(dataset.count, config.batchSize, new Random(config.seed));
    const runMonitor = new RunMonitor(dataset, monitor, config.batchSize, config.seed);
    const state = createTrainState(config);
    // A loaded model's weights are the starting point (the optimiser starts afresh: the zip has no optimiser state).
    if (loaded) applyLoadedWeights(state, loaded);
    this.run = newRun({
      name: `${dataset.name} · ${config.model.encoder}${loaded ? ` from ${loaded.fileName}` : ''}`,
      state,
      sampler,
      totalSteps: steps,
      monitor: runMonitor,
      checkpointEvery,
    });
    this.lastMetrics = null;
    // An error the device reported before this run came from other work (a map, a matmul measure), not its steps.
    this.gpuError = null;
    this.setState('compiling');
    this.loop = this.loop.then(() => this.prepareAndTrain(true));
  }

  /**
   * Compiles the GPU pipelines, then trains unless a pause or stop arrived meanwhile. A new run first sends its
   * probe set, baselines and step-0 map; a resumed one has sent its saved ones.
   */
  private async prepareAndTrain(monitorFirst: boolean): Promise<void> {
    const compileStarted = this.env.now();
    try {
      await compilePipelines(this.run!.state);
      const { model, config } = this.run!.state;
      const parameters = countParams(model);
      this.send({
        type: 'run-info',
        info: { parameters, flopsPerStep: stepFlops(model, config.batchSize, config.model.projectionDim, parameters), compileMs: this.env.now() - compileStarted },
      });
    } catch (e) {
      this.disposeRun();
      this.setState('idle');
      this.reportError(new TrainerError('training-failed', `could not prepare the GPU for training: ${(e as Error).message}`));
      return;
    }
    // A pause during compilation still gets its map and baselines; only a stop skips them.
    if (this.trainerState === 'stopped') return;
    if (monitorFirst) {
      try {
        await this.startMonitoring(this.run!);
      } catch (e) {
        this.reportError(new TrainerError('training-failed', `could not embed the probe images: ${(e as Error).message}`));
      }
    }
    if (this.trainerState !== 'compiling') return;
    this.setState('training');
    await this.trainLoop();
  }

  /** The probe set for the page, the baselines of a labelled run, and the map before any training. */
  private async startMonitoring(run: Run): Promise<void> {
    const probe = run.monitor.probeSet();
    this.send({ type: 'probe', probe }, [probe.pixels.buffer]);
    const randomInit = await run.monitor.knnOfEncoder(run.state.model.encoder);
    const rawPixels = await run.monitor.knnOfRawPixels();
    if (randomInit !== null && rawPixels !== null) {
      run.history.baselines = { randomInit, rawPixels };
      this.send({ type: 'baselines', randomInit, rawPixels });
    }
    await this.sendSnapshot(run);
  }

  private async sendSnapshot(run: Run): Promise<void> {
    const snapshot = await run.monitor.snapshot(run.state.model.encoder, run.state.step);
    // A copy for the checkpoint: the one sent is transferred to the page.
    run.history.snapshots.push({ ...snapshot, coords: snapshot.coords.slice() });
    this.send({ type: 'snapshot', snapshot }, [snapshot.coords.buffer]);
  }

  private async previewAugment(augment: AugmentConfig, count: number, seed: number): Promise<void> {
    const dataset = this.dataset;
    if (!dataset) throw new TrainerError('no-dataset', 'load some images to preview their augmentations');
    const problems = validateTrainConfig({ ...defaultTrainConfig(dataset.imageSize, dataset.channels), augment }).map((p) => p.message);
    if (problems.length) throw new TrainerError('bad-config', problems.join('; '));
    const rng = new Random(seed);
    const indices = rng.permutation(dataset.count).slice(0, Math.min(count, dataset.count));
    const pixels = await augmentedPairs(dataset, indices, augment, rng);
    this.send({ type: 'augment-preview', pixels, count: indices.length, imageSize: dataset.imageSize, channels: dataset.channels }, [pixels.buffer]);
  }

  private requireRun(what: string): Run {
    if (!this.run) throw new TrainerError('no-dataset', `train a model first, then ${what}`);
    return this.run;
  }

  private async exportModel(includeHead: boolean): Promise<void> {
    const run = this.requireRun('download it');
    const { config, step } = run.state;
    this.send({ type: 'export-progress', kind: 'model', done: 0, total: 1 });
    const files = await modelBundle(run.state.model, { config, step, metrics: this.lastMetrics, includeHead, version: __TABCLR_VERSION__, torchModule: TORCH_MODULE_SOURCE });
    const fileName = `tabclr-${config.model.encoder}-step${step}.zip`;
    this.send({ type: 'export', kind: 'model', fileName, files }, files.map((f) => f.bytes.buffer as ArrayBuffer));
  }

  private async exportEmbeddings(): Promise<void> {
    const run = this.requireRun('export its embeddings');
    const dataset = this.dataset!;
    const files = await embeddingsBundle(run.state.model.encoder, dataset, run.state.config.batchSize, this.env.spritePng, (done, total) =>
      this.send({ type: 'export-progress', kind: 'embeddings', done, total }),
    );
    const fileName = `tabclr-embeddings-step${run.state.step}.zip`;
    this.send({ type: 'export', kind: 'embeddings', fileName, files }, files.map((f) => f.bytes.buffer as ArrayBuffer));
  }

  private async umapSnapshot(): Promise<void> {
    const run = this.run;
    if (!run) throw new TrainerError('no-dataset', 'start a run to map its representation');
    const snapshot = await run.monitor.umapSnapshot(run.state.model.encoder, run.state.step, {
      onProgress: (epoch, epochs) => this.send({ type: 'umap-progress', epoch, epochs }),
      nextTask: () => this.env.nextTask(),
    });
    this.send({ type: 'snapshot', snapshot }, [snapshot.coords.buffer]);
  }

  private async neighbours(position: number, k: number): Promise<void> {
    const run = this.run;
    if (!run) throw new TrainerError('no-dataset', 'start a run to see neighbours under its encoder');
    if (!(Number.isInteger(k) && k >= 1)) throw new TrainerError('bad-config', `number of neighbours must be ≥ 1, got ${k}`);
    const step = run.state.step;
    const neighbours = await run.monitor.neighbours(run.state.model.encoder, step, position, k);
    this.send({ type: 'neighbours', position, step, neighbours });
  }

  private async trainLoop(): Promise<void> {
    try {
      while (this.run && this.trainerState === 'training' && this.run.state.step < this.run.totalSteps) {
        const run = this.run;
        run.lastGood ??= await this.goodState(run);
        const metrics = await this.oneStep(run, this.dataset!);
        if (this.deviceGone) return;
        // A buffer that could not be allocated, or a pipeline the device refused, leaves the step's results
        // undefined (often zeros): the step does not count.
        if (this.gpuError !== null) return await this.recoverFromGpuError(run, this.gpuError);
        if (!metrics.finite || metrics.exploding) return await this.recoverFromDivergence(run, metrics);
        const step = run.state.step;
        if (step % run.monitor.settings.snapshotEvery === 0 || step === run.totalSteps) await this.sendSnapshot(run);
        // Checkpoints off: the last good state is still kept in memory now and then, for a non-finite loss to go back to.
        if (run.checkpointEvery > 0 ? step % run.checkpointEvery === 0 : step % IN_MEMORY_EVERY === 0) await this.saveCheckpoint(run);
        await this.env.nextTask();
      }
      if (this.run && this.trainerState === 'training') {
        await this.saveCheckpoint(this.run);
        this.setState('stopped');
      }
    } catch (e) {
      // A lost device fails the step in flight: the page restarts the trainer, nothing more to say here.
      if (this.deviceGone) return;
      const message = (e as Error).message;
      const run = this.run;
      // The WebGL backend throws where WebGPU reports an error event.
      const gpuError = this.gpuError ?? (/out of memory|OOM|failed to allocate/i.test(message) ? { kind: 'out-of-memory' as const, message } : null);
      if (run?.lastGood && gpuError) return await this.recoverFromGpuError(run, gpuError);
      this.setState('paused');
      this.reportError(new TrainerError('training-failed', `training step failed: ${message}.`));
    }
  }

  private async goodState(run: Run): Promise<NonNullable<Run['lastGood']>> {
    return { snapshot: await snapshotTrainState(run.state), sampler: run.sampler.getState(), steps: run.history.steps.length, snapshots: run.history.snapshots.length };
  }

  /**
   * A non-finite loss or exploding gradients: the run pauses, goes back to its last good state (the last checkpoint,
   * or the start) with half the learning rate, and says so; Resume goes on from there. The bad step's update was
   * never applied.
   */
  private async recoverFromDivergence(run: Run, bad: StepMetrics): Promise<void> {
    const badStep = run.state.step;
    // Read before the history is rewound: the norms the bad step was judged against.
    const recentNorm = recentGradNorm(run.history.steps.slice(0, -1));
    const restoredStep = this.rewind(run);
    const { config } = run.state;
    const learningRate = config.optim.learningRate / 2;
    run.state = { ...run.state, config: { ...config, optim: { ...config.optim, learningRate } } };
    const exploding = bad.finite && bad.exploding;
    const what = exploding
      ? `Step ${badStep}'s gradients exploded: their norm was ${bad.gradNorm.toExponential(2)}, ` +
        `${Math.round(bad.gradNorm / recentNorm!)}× the recent median of ${recentNorm!.toExponential(2)}, so its update was not applied.`
      : `Step ${badStep} gave a non-finite ${Number.isFinite(bad.loss) ? 'gradient (NaN or infinity)' : 'loss (NaN or infinity)'}: training diverged.`;
    this.send({
      type: 'fault',
      fault: {
        kind: exploding ? 'exploding' : 'non-finite',
        step: badStep,
        runId: run.id,
        restoredStep,
        learningRate,
        message:
          `${what} The run went back to step ${restoredStep}, its last good state, and the learning rate is halved to ` +
          `${learningRate.toExponential(2)}. Press Resume to go on.`,
        suggestedBatch: null,
      },
    });
    this.setState('paused');
    // The lower learning rate goes into the checkpoint, so that a reload keeps it.
    run.savedStep = -1;
    await this.saveCheckpoint(run);
  }

  /** Pauses the run and puts it back to its last good state; returns the step it went back to. */
  private rewind(run: Run): number {
    this.trainerState = 'paused';
    const good = run.lastGood!;
    restoreTrainState(run.state, good.snapshot);
    run.sampler.setState(good.sampler);
    run.history.steps.length = good.steps;
    run.history.snapshots.length = good.snapshots;
    const last = run.history.steps.at(-1);
    this.lastMetrics = last ? { ...last, timings: null } : null;
    const step = run.state.step;
    this.send({ type: 'run-rewound', step, history: run.history.steps.slice() });
    return step;
  }

  /** The first error the device reported since the last step was judged; cleared once the run has been put back. */
  private gpuError: { kind: GpuErrorKind; message: string } | null = null;

  /**
   * The GPU reported an error during the step: the step is undone (the run goes back to its last good state) and
   * the run pauses. Out of memory offers half the batch (Resume with it: the page's "Continue with batch N"); any
   * other error is a bug to report, and Resume tries again.
   */
  private async recoverFromGpuError(run: Run, error: { kind: GpuErrorKind; message: string }): Promise<void> {
    const badStep = run.state.step;
    this.gpuError = null;
    const restoredStep = this.rewind(run);
    const batch = run.state.config.batchSize;
    const outOfMemory = error.kind === 'out-of-memory';
    const suggestedBatch = outOfMemory && batch > 2 ? Math.max(2, Math.floor(batch / 2)) : null;
    const back = `The run went back to step ${restoredStep}, its last good state.`;
    const message = outOfMemory
      ? `The GPU ran out of memory at step ${badStep} with a batch of ${batch} (${error.message}). ${back} ` +
        (suggestedBatch === null ? 'Stop, and train on smaller images or a narrower encoder.' : `Continue with a batch of ${suggestedBatch}, or stop and choose smaller settings.`)
      : `The GPU refused part of step ${badStep} (${error.kind} error: ${error.message}), so its results cannot be trusted. ${back} ` +
        'This is a fault in tabclr or in the browser: please report it with this message. Resume tries again.';
    this.send({
      type: 'fault',
      fault: { kind: outOfMemory ? 'out-of-memory' : 'gpu-error', step: badStep, runId: run.id, restoredStep, learningRate: null, suggestedBatch, message },
    });
    this.setState('paused');
    await this.saveCheckpoint(run);
  }

  private deviceGone = false;

  /** The GPU device went away: everything on it is gone, so the page restarts the trainer and resumes the run. */
  private deviceLost(reason: string): void {
    this.deviceGone = true;
    const run = this.run;
    this.send({
      type: 'fault',
      fault: {
        kind: 'device-lost',
        step: run?.state.step ?? 0,
        // Only a run with a checkpoint can come back, and only one still meant to train (not one being stopped).
        runId: run && run.checkpointed && !this.stopping && this.isActive() ? run.id : null,
        restoredStep: null,
        learningRate: null,
        suggestedBatch: null,
        message: `The GPU device was lost (${reason || 'no reason given'}), as happens when a driver resets or the tab sleeps for long.`,
      },
    });
  }

  /** One step and its report; its update was skipped when the loss was not finite or the gradients exploded. */
  private async oneStep(run: Run, dataset: DatasetPayload): Promise<StepMetrics> {
    this.injectFaults(run);
    const started = this.env.now();
    const batch = gatherBatch(dataset.pixels, run.sampler.next(), dataset.imageSize, dataset.channels);
    let metrics: StepMetrics;
    try {
      metrics = await trainStep(run.state, batch, { profile: run.monitor.settings.profileSteps, maxGradNorm: explodingLimit(run.history.steps) });
    } finally {
      batch.dispose();
    }
    this.lastMetrics = metrics;
    const stepMs = this.env.now() - started;
    const imagesPerSec = (run.state.config.batchSize * 1000) / Math.max(stepMs, 1e-3);
    const { timings: _timings, ...recorded } = metrics;
    const step: RecordedStep = { ...recorded, stepMs, imagesPerSec, totalSteps: run.totalSteps };
    run.history.steps.push(step);
    this.send({ type: 'metrics', report: { ...step, timings: metrics.timings, memory: memoryReport() } });
    return metrics;
  }

  /**
   * The browser tests' faults, each injected once: a NaN weight, exploding gradients, a destroyed device, an
   * out-of-memory error from the device, a crash of the worker.
   */
  private injectFaults(run: Run): void {
    const next = run.state.step + 1;
    if (this.hooks.explodeAtStep === next) {
      this.hooks.explodeAtStep = undefined;
      // The projection's output batch norm shrunk 10⁴-fold: NT-Xent normalises z, so the loss barely moves, but the
      // gradients of that layer's scale and shift grow 10⁴-fold, as when a layer's scale collapses in a diverging run.
      tf.tidy(() => {
        for (const p of run.state.params.filter((p) => /^head\d+_bn\//.test(p.name)).slice(-2)) p.variable.assign(tf.mul(p.variable, 1e-4));
      });
    }
    if (this.hooks.nanAtStep === next) {
      this.hooks.nanAtStep = undefined;
      const weight = run.state.params[0]!.variable;
      tf.tidy(() => weight.assign(tf.fill(weight.shape, NaN)));
    }
    if (this.hooks.loseDeviceAtStep === next) {
      this.hooks.loseDeviceAtStep = undefined;
      this.env.injectDeviceFault('lose');
    }
    if (this.hooks.outOfMemoryAtStep === next) {
      this.hooks.outOfMemoryAtStep = undefined;
      this.env.injectDeviceFault('out-of-memory');
    }
    if (this.hooks.crashAtStep === next) {
      this.hooks.crashAtStep = undefined;
      this.env.crash();
    }
  }

  /** Square matmuls, timed after a warm-up: the backend's best rate, which a step's achieved FLOP/s is compared with. */
  private async measureMatmul(size: number, repeats: number): Promise<void> {
    this.requireBackend();
    if (this.isActive() || this.selfTesting) throw new TrainerError('busy', 'stop training before measuring the matmul rate');
    if (!(Number.isInteger(size) && size >= 16 && size <= 8192 && Number.isInteger(repeats) && repeats >= 1 && repeats <= 1000)) {
      throw new TrainerError('bad-config', `matmul size must be 16–8192 and repeats 1–1000, got ${size} and ${repeats}`);
    }
    const a = tf.randomUniform([size, size]);
    const b = tf.randomUniform([size, size]);
    try {
      const once = async () => {
        const c = tf.matMul(a, b);
        await settled(c);
        c.dispose();
      };
      await once(); // compiles the pipeline
      const started = this.env.now();
      // Queued back to back; the GPU runs them in order, so one read of the last waits for all of them.
      let c = tf.matMul(a, b);
      for (let i = 1; i < repeats; i++) {
        c.dispose();
        c = tf.matMul(a, b);
      }
      await settled(c);
      c.dispose();
      const seconds = (this.env.now() - started) / 1000;
      this.send({ type: 'matmul-rate', size, flopsPerSec: (2 * size ** 3 * repeats) / seconds });
    } finally {
      tf.dispose([a, b]);
    }
  }

  private pause(): void {
    if (this.trainerState !== 'training' && this.trainerState !== 'compiling') throw new TrainerError('busy', 'there is no training to pause');
    this.trainerState = 'paused';
    // The step in flight finishes first; the page hears "paused" with the step the run really stopped at.
    this.loop = this.loop.then(async () => {
      if (this.trainerState !== 'paused') return;
      this.setState('paused');
      if (this.run) await this.saveCheckpoint(this.run);
    });
  }

  /** Goes on with a paused run; with batchSize, at that batch from now on (after running out of GPU memory). */
  private resume(batchSize?: number): void {
    const run = this.run;
    if (this.trainerState !== 'paused' || !run) throw new TrainerError('busy', 'there is no paused training to resume');
    if (run.state.step >= run.totalSteps) throw new TrainerError('busy', 'the run has reached its last step');
    // An error the device reported while the run was paused came from other work (a map, an export), not a step.
    this.gpuError = null;
    if (batchSize === undefined || batchSize === run.state.config.batchSize) {
      this.setState('training');
      this.loop = this.loop.then(() => this.trainLoop());
      return;
    }
    const config = { ...run.state.config, batchSize };
    const problems = validateTrainConfig(config).map((p) => p.message);
    if (batchSize > this.dataset!.count) problems.push(`batch size ${batchSize} is larger than the ${this.dataset!.count} images`);
    const limitProblem = bufferLimitProblem(config, this.backend!.maxBufferBytes);
    if (limitProblem) problems.push(limitProblem);
    if (problems.length) throw new TrainerError('bad-config', problems.join('; '));
    // The sampler's place in its epoch does not depend on the batch: the new one goes on where the old one was.
    const sampler = new EpochSampler(this.dataset!.count, batchSize, new Random(config.seed));
    sampler.setState(run.sampler.getState());
    run.sampler = sampler;
    run.state = { ...run.state, config };
    run.monitor.batchSize = batchSize;
    // The last good state stays valid: weights and optimiser slots do not depend on the batch either.
    this.setState('compiling');
    this.loop = this.loop.then(() => this.prepareAndTrain(false));
  }

  /** Stops between steps. The run's model stays for neighbours and maps until the next start or data set. */
  private async stop(): Promise<void> {
    if (!this.run || this.trainerState === 'stopped') throw new TrainerError('busy', 'there is no training to stop');
    this.trainerState = 'stopped';
    this.stopping = true;
    try {
      await this.loop;
      if (this.run) await this.saveCheckpoint(this.run);
    } finally {
      this.stopping = false;
    }
    this.setState('stopped');
  }

  // ---- Models loaded from a zip ----------------------------------------------------------------------------

  private loadedMonitor: MonitorSettings = { snapshotEvery: 25, probeCount: 500, profileSteps: false };

  private summaryOfLoaded(model: LoadedModel): LoadedModelSummary {
    const { imageSize, channels } = model.config.model;
    const fitsImages = this.dataset !== null && this.dataset.imageSize === imageSize && this.dataset.channels === channels;
    return { fileName: model.fileName, config: model.config, step: model.step, version: model.version, hasHead: model.head !== null, fitsImages };
  }

  /**
   * Checks a downloaded zip through and through (format, sizes, every weight's name and shape) before anything
   * changes; then the model maps and embeds the loaded images, and the next run starts from it.
   */
  private async loadModel(bytes: Uint8Array, fileName: string, monitor: MonitorSettings): Promise<void> {
    this.requireBackend();
    if (this.selfTesting || this.isActive()) throw new TrainerError('busy', 'stop training before loading a model');
    if (this.loadingData) throw new TrainerError('busy', 'wait until the images are loaded');
    this.switching = true;
    try {
      await this.readAndOpenModel(bytes, fileName, monitor);
    } finally {
      this.switching = false;
    }
  }

  private async readAndOpenModel(bytes: Uint8Array, fileName: string, monitor: MonitorSettings): Promise<void> {
    let loaded: LoadedModel;
    try {
      loaded = readModelZip(bytes, fileName);
    } catch (e) {
      if (e instanceof ModelZipError) throw new TrainerError('bad-model', `${fileName} cannot be loaded: ${e.message}.`);
      throw e;
    }
    // The weights must fit the architecture their config describes: tried on a model of its own, then discarded.
    const trial = createTrainState(loaded.config);
    try {
      applyLoadedWeights(trial, loaded);
    } catch (e) {
      throw new TrainerError('bad-model', `${fileName} cannot be loaded: ${(e as Error).message}.`);
    } finally {
      disposeTrainState(trial);
    }
    this.loadedModel = loaded;
    this.loadedMonitor = monitor;
    await this.openLoadedModel(loaded, monitor);
  }

  /** With images of the model's size loaded: the model as a finished run, so its map, neighbours and embeddings work. */
  private async openLoadedModel(loaded: LoadedModel, monitorSettings: MonitorSettings): Promise<void> {
    this.send({ type: 'model-loaded', model: this.summaryOfLoaded(loaded) });
    const dataset = this.dataset;
    const { imageSize, channels } = loaded.config.model;
    if (!dataset || dataset.imageSize !== imageSize || dataset.channels !== channels) return;
    await this.retireRun();
    const config = { ...loaded.config, batchSize: Math.min(loaded.config.batchSize, dataset.count) };
    const state = createTrainState(config);
    applyLoadedWeights(state, loaded);
    state.step = loaded.step;
    const monitor = new RunMonitor(dataset, { ...monitorSettings, probeCount: Math.min(monitorSettings.probeCount, dataset.count) }, config.batchSize, config.seed);
    // A finished run of loaded.step steps, which no checkpoint keeps (the zip is its record).
    this.run = newRun({
      name: loaded.fileName,
      state,
      sampler: new EpochSampler(dataset.count, config.batchSize, new Random(config.seed)),
      totalSteps: loaded.step,
      monitor,
      checkpointEvery: 0,
    });
    this.lastMetrics = null;
    this.setState('stopped');
    const probe = monitor.probeSet();
    this.send({ type: 'probe', probe }, [probe.pixels.buffer]);
    await this.sendSnapshot(this.run);
  }

  // ---- Checkpoints ------------------------------------------------------------------------------------------

  private async sendRuns(): Promise<void> {
    const runs = await this.archive.list();
    this.send({ type: 'runs', runs: runs ?? [], available: runs !== null });
  }

  /**
   * Writes the run's checkpoint, unless checkpoints are off or nothing changed since the last one. A failure (storage
   * full, private mode) is reported and training goes on in memory.
   */
  private async saveCheckpoint(run: Run): Promise<void> {
    if (run.savedStep === run.state.step || run.state.step === 0) return;
    const step = run.state.step;
    const good = await this.goodState(run);
    run.lastGood = good;
    run.savedStep = step;
    if (run.checkpointEvery === 0) return;
    if (!(await this.archive.available())) {
      this.send({ type: 'checkpoint', status: 'failed', runId: run.id, step, message: 'this browser keeps no checkpoints (IndexedDB is unavailable); the run lives in memory only' });
      return;
    }
    this.send({ type: 'checkpoint', status: 'saving', runId: run.id, step, message: null });
    try {
      await this.archive.save(run, good, this.dataset!, this.lastMetrics);
      run.checkpointed = true;
      this.send({ type: 'checkpoint', status: 'saved', runId: run.id, step, message: null });
      await this.sendRuns();
    } catch (e) {
      this.send({ type: 'checkpoint', status: 'failed', runId: run.id, step, message: `${storageProblem(e)}; training goes on in memory` });
    }
  }

  private async deleteRun(id: string): Promise<void> {
    if (this.isActive() && this.run?.id === id) throw new TrainerError('busy', 'stop this run before deleting it');
    await this.archive.delete(id);
    await this.sendRuns();
  }

  /** Loads a saved run: its images, model, optimiser and history; it trains on unless it had finished. */
  private async resumeRun(id: string): Promise<void> {
    this.requireBackend();
    if (this.selfTesting || this.isActive()) throw new TrainerError('busy', 'stop the current run before resuming another');
    if (this.loadingData) throw new TrainerError('busy', 'wait until the images are loaded');
    this.switching = true;
    try {
      await this.loadSavedRun(id);
    } finally {
      this.switching = false;
    }
  }

  private async loadSavedRun(id: string): Promise<void> {
    const { record, state: checkpoint } = await this.archive.load(id);
    if (this.loadedModel) {
      this.loadedModel = null;
      this.send({ type: 'model-loaded', model: null });
    }
    this.loadingData = true;
    let dataset: DatasetPayload;
    try {
      dataset = await this.archive.datasetFor(checkpoint.dataset, this.dataset);
    } finally {
      this.loadingData = false;
    }
    if (dataset !== this.dataset) await this.setDataset(dataset);
    else await this.retireRun();

    const { config } = record;
    const tooLarge = bufferLimitProblem(config, this.backend!.maxBufferBytes);
    if (tooLarge) throw new TrainerError('bad-config', `this run cannot go on on this GPU: ${tooLarge}`);
    const state = createTrainState(config);
    const sampler = new EpochSampler(dataset.count, config.batchSize, new Random(config.seed));
    try {
      restoreTrainState(state, checkpoint.snapshot);
      sampler.setState(checkpoint.sampler);
    } catch (e) {
      disposeTrainState(state);
      throw new TrainerError('dataset-failed', `the checkpoint could not be loaded: ${(e as Error).message}`);
    }
    const monitor = new RunMonitor(dataset, record.monitor, config.batchSize, config.seed);
    const run = newRun({
      id: record.id,
      name: record.name,
      createdAt: record.createdAt,
      state,
      sampler,
      totalSteps: record.totalSteps,
      monitor,
      checkpointEvery: record.checkpointEvery,
      history: checkpoint.history,
      identity: checkpoint.dataset,
      checkpointed: true,
    });
    this.run = run;
    this.lastMetrics = checkpoint.lastMetrics;
    const { monitor: monitorSettings, checkpointEvery } = record;
    this.send({ type: 'run-restored', run: summaryOf(run, this.dataset, this.lastMetrics), config, monitor: monitorSettings, checkpointEvery, history: run.history.steps.slice() });
    const probe = monitor.probeSet();
    this.send({ type: 'probe', probe }, [probe.pixels.buffer]);
    const { baselines, snapshots } = run.history;
    if (baselines) this.send({ type: 'baselines', ...baselines });
    for (const snapshot of snapshots) {
      const coords = snapshot.coords.slice();
      this.send({ type: 'snapshot', snapshot: { ...snapshot, coords } }, [coords.buffer]);
    }
    if (state.step >= run.totalSteps) {
      this.setState('stopped');
      return;
    }
    this.gpuError = null;
    this.setState('compiling');
    this.loop = this.loop.then(() => this.prepareAndTrain(false));
  }

  private disposeRun(): void {
    if (this.run) disposeTrainState(this.run.state);
    this.run = null;
  }

  private async selfTest(steps: number): Promise<void> {
    this.requireBackend();
    if (this.selfTesting || this.isActive()) throw new TrainerError('busy', 'stop training before running the self-test');
    this.selfTesting = true;
    try {
      const training = await checkTraining(steps, (m) =>
        this.send({ type: 'self-test-progress', stage: 'training', step: m.step, total: steps }),
      );
      this.send({ type: 'self-test-progress', stage: 'agreement', step: 0, total: 1 });
      const agreement = await checkBackendAgreement('cpu');
      this.send({ type: 'self-test-result', training, agreement });
    } finally {
      this.selfTesting = false;
    }
  }

  /** For tests: the number of live tensors, to check that a stopped run released everything. */
  static liveTensors(): number {
    return tf.memory().numTensors;
  }
}
