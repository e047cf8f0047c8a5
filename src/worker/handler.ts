// The trainer: a plain class the worker entry feeds with messages and unit tests drive directly. It takes each request
// only in the phases phase.ts allows, loads images, starts and opens runs, and answers the requests that use a run's
// model beside training; the run loop (runLoop.ts), fault recovery (recovery.ts) and model loading (modelLoading.ts)
// work on the state it shares with them (context.ts).
import * as tf from '@tensorflow/tfjs';
import type { ImportCounts, ImportFile, ImportResult } from '../data/importer';
import { cacheKey } from '../data/files';
import { augmentedPairs } from '../engine/augment';
import { defaultTrainConfig, validateTrainConfig, type AugmentConfig, type TrainConfig } from '../engine/config';
import { Random } from '../engine/random';
import { checkBackendAgreement, checkTraining } from '../engine/selftest';
import { settled } from '../engine/step';
import { embeddingsBundle, modelBundle } from '../export/bundle';
import { TORCH_MODULE_SOURCE } from '../export/torchModule';
import { TrainerContext } from './context';
import type { HandlerEnvironment } from './environment';
import { TrainerError } from './errors';
import { openLoadedModel, readModel, startingWeights } from './modelLoading';
import { refusal } from './phase';
import type { DatasetPayload, ExploreRequest, FromWorker, KnownResultCheck, MonitorSettings, Post, ToWorker } from './protocol';
import { disposeKept, explore, searchByImage } from './explore';
import { deviceLost } from './recovery';
import { buildRun, type Run } from './run';
import { summaryOf } from './runArchive';
import { launch, pause, resume, stop } from './runLoop';
import { runProblems } from './validation';

export { memoryReport } from './runLoop';

export class TrainerHandler {
  private readonly ctx: TrainerContext;
  private importing: AbortController | null = null;

  constructor(post: Post, env: HandlerEnvironment) {
    this.ctx = new TrainerContext(post, env);
  }

  /** Minimum images for training: each image needs at least one other image in its batch. */
  static readonly MIN_IMAGES = 2;

  async handle(message: ToWorker): Promise<void> {
    try {
      const refused = refusal(message.type, this.ctx.phase);
      if (refused) throw refused;
      switch (message.type) {
        case 'init':
          return await this.init(message.backend);
        case 'set-dataset':
          return await this.loadingImages(() => this.setDataset(message.dataset));
        case 'load-sample':
          return await this.loadingImages(() => this.loadSample(message.url));
        case 'import':
          return await this.loadingImages(() => this.importFiles(message.files, message.imageSize, message.name));
        case 'cancel-import':
          return this.importing?.abort();
        case 'clear-cache':
          await this.ctx.env.clearCache();
          return this.ctx.send({ type: 'cache-cleared' });
        case 'start':
          return await this.start(message.config, message.steps, message.monitor, message.checkpointEvery);
        case 'list-runs':
          return await this.ctx.sendRuns();
        case 'resume-run':
          return await this.opening(() => this.resumeRun(message.id));
        case 'delete-run':
          return await this.deleteRun(message.id);
        case 'load-model':
          return await this.opening(() => this.loadModel(message.bytes, message.fileName, message.monitor));
        case 'forget-model':
          this.ctx.loadedModel = null;
          return this.ctx.send({ type: 'model-loaded', model: null });
        case 'pause':
          return pause(this.ctx);
        case 'resume':
          return resume(this.ctx, message.batchSize);
        case 'stop':
          return await stop(this.ctx);
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
        case 'explore':
          return await this.explore(message.request);
        case 'cancel-explore':
          return this.ctx.exploring?.abort(new Error('cancelled'));
        case 'explore-search':
          return await this.besideTraining(() => this.search(message.pixels, message.k));
        default: {
          const never: never = message;
          throw new TrainerError('internal', `unknown message ${JSON.stringify(never)}`);
        }
      }
    } catch (e) {
      this.ctx.reportError(e, message.type);
    }
  }

  /** Resolves when the training loop (if any) has finished its current step and exited. */
  async idle(): Promise<void> {
    // Work chained on while waiting (a pause's checkpoint) counts too.
    for (let loop = this.ctx.loop; ; loop = this.ctx.loop) {
      await loop;
      if (loop === this.ctx.loop) return;
    }
  }

  private send(message: FromWorker, transfer?: Transferable[]): void {
    this.ctx.send(message, transfer);
  }

  /** Work that changes the images: the phase says so until it is done, whatever happens. An exploration of the old ones stops. */
  private async loadingImages(work: () => Promise<void>): Promise<void> {
    this.ctx.phase = 'loading-images';
    this.ctx.dropExploration('other images are being loaded');
    try {
      await work();
    } finally {
      this.ctx.phase = 'ready';
    }
  }

  /** Opening a saved run or a model zip: nothing else may change the run or the images until it is in place. */
  private async opening(work: () => Promise<void>): Promise<void> {
    this.ctx.phase = 'opening';
    this.ctx.dropExploration('another run or model is being opened');
    try {
      await work();
    } finally {
      // A restored run that trains on has moved on to compiling.
      if (this.ctx.phase === 'opening') this.ctx.phase = 'ready';
    }
  }

  /** Work that uses the model beside the training loop, one request at a time. */
  private besideTraining(work: () => Promise<void>): Promise<void> {
    const next = this.ctx.sideWork.then(work);
    this.ctx.sideWork = next.catch(() => undefined);
    return next;
  }

  private async init(preference: Parameters<HandlerEnvironment['selectBackend']>[0]): Promise<void> {
    const backend = await this.ctx.env.selectBackend(preference);
    let check: KnownResultCheck;
    try {
      check = await this.ctx.env.runKnownResult();
    } catch (e) {
      throw new TrainerError('no-backend', `${backend.backend} started but could not compute: ${(e as Error).message}`, false);
    }
    this.ctx.backend = backend;
    this.ctx.env.watchDevice({
      lost: (reason) => deviceLost(this.ctx, reason),
      error: (kind, message) => {
        this.ctx.gpuError ??= { kind, message };
      },
    });
    this.ctx.phase = 'ready';
    this.send({ type: 'ready', backend, check });
  }

  // ---- Images ----------------------------------------------------------------------------------------------

  private async setDataset(dataset: DatasetPayload): Promise<void> {
    const expected = dataset.count * dataset.imageSize * dataset.imageSize * dataset.channels;
    if (dataset.pixels.length !== expected) {
      throw new TrainerError('dataset-failed', `image data has ${dataset.pixels.length} bytes, expected ${expected}`);
    }
    if (dataset.labels && dataset.labels.length !== dataset.count) {
      throw new TrainerError('dataset-failed', `${dataset.labels.length} labels for ${dataset.count} images`);
    }
    // A finished run's probe indices refer to the old images: it goes with them, and so does what Explore kept.
    await this.ctx.retireRun('other images were loaded');
    this.ctx.dataset = dataset;
    const { name, count, imageSize, channels, classNames, labels } = dataset;
    this.send({ type: 'dataset', dataset: { name, count, imageSize, channels, classNames, labelled: labels !== null } });
    if (this.ctx.loadedModel) await openLoadedModel(this.ctx, this.ctx.loadedModel, this.ctx.loadedMonitor);
  }

  private async importFiles(files: ImportFile[], imageSize: number, name: string): Promise<void> {
    if (!(Number.isInteger(imageSize) && imageSize >= 8 && imageSize <= 256)) {
      throw new TrainerError('bad-config', `image size must be a whole number of pixels from 8 to 256, got ${imageSize}`);
    }
    const { env } = this.ctx;
    const controller = new AbortController();
    this.importing = controller;
    const started = env.now();
    let lastReport = -Infinity;
    const onProgress = (counts: ImportCounts) => {
      const now = env.now();
      // At most ten progress messages a second, however fast files go by.
      if (now - lastReport < 100 && counts.processed < counts.found) return;
      lastReport = now;
      this.send({ type: 'import-progress', counts, elapsedMs: now - started });
    };
    let result: ImportResult;
    try {
      result = await env.importImages(files, { imageSize, name, signal: controller.signal, onProgress });
    } catch (e) {
      if (controller.signal.aborted) return this.send({ type: 'import-cancelled' });
      throw new TrainerError('dataset-failed', `The images could not be imported: ${(e as Error).message}`);
    } finally {
      this.importing = null;
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
    this.send({ type: 'import-done', counts, skipped, elapsedMs: env.now() - started, cacheProblem });
    if (dataset.count < TrainerHandler.MIN_IMAGES) {
      await this.ctx.retireRun();
      this.ctx.dataset = null;
      this.send({ type: 'dataset', dataset: null });
      const found = dataset.count === 0 ? 'No usable image' : 'Only one usable image';
      throw new TrainerError(
        'no-dataset',
        `${found} among the ${counts.found} files chosen. Self-supervised training learns by telling each image apart from the others, so it needs at least ${TrainerHandler.MIN_IMAGES} images.`,
      );
    }
    await this.setDataset(dataset);
  }

  private async loadSample(url: string): Promise<void> {
    let dataset: DatasetPayload;
    try {
      dataset = { ...(await this.ctx.env.loadSample(url)), source: { kind: 'sample', url } };
    } catch (e) {
      throw new TrainerError('dataset-failed', `The sample images could not be loaded: ${(e as Error).message}`);
    }
    await this.setDataset(dataset);
  }

  // ---- Runs -------------------------------------------------------------------------------------------------

  private async start(config: TrainConfig, steps: number, monitor: MonitorSettings, checkpointEvery: number): Promise<void> {
    const { dataset, loadedModel } = this.ctx;
    if (!dataset) throw new TrainerError('no-dataset', 'load some images before training');
    const problems = runProblems({ config, steps, monitor, checkpointEvery }, { dataset, maxBufferBytes: this.ctx.readyBackend.maxBufferBytes, loadedModel });
    if (problems.length) throw new TrainerError('bad-config', problems.map((p) => p.message).join('; '));
    // The previous (finished or stopped) run goes once nothing uses its model any more.
    this.ctx.phase = 'stopping';
    try {
      await this.ctx.retireRun('a new run started');
    } finally {
      this.ctx.phase = 'ready';
    }
    const run = buildRun({
      name: `${dataset.name} · ${config.model.encoder}${loadedModel ? ` from ${loadedModel.fileName}` : ''}`,
      config,
      dataset,
      monitor,
      totalSteps: steps,
      checkpointEvery,
      // A loaded model's weights are the starting point (the optimiser starts afresh: the zip has no optimiser state).
      ...(loadedModel && { weights: startingWeights(loadedModel, []) }),
    });
    launch(this.ctx, run, true);
  }

  private async deleteRun(id: string): Promise<void> {
    if (this.ctx.running && this.ctx.run?.id === id) throw new TrainerError('busy', 'stop this run before deleting it');
    await this.ctx.archive.delete(id);
    await this.ctx.sendRuns();
  }

  /** Loads a saved run: its images, model, optimiser and history; it trains on unless it had finished. */
  private async resumeRun(id: string): Promise<void> {
    const ctx = this.ctx;
    const { record, state: checkpoint } = await ctx.archive.load(id);
    if (ctx.loadedModel) {
      ctx.loadedModel = null;
      this.send({ type: 'model-loaded', model: null });
    }
    const dataset = await ctx.archive.datasetFor(checkpoint.dataset, ctx.dataset);
    if (dataset !== ctx.dataset) await this.setDataset(dataset);
    else await ctx.retireRun();
    const { config, monitor, checkpointEvery } = record;
    const problems = validateTrainConfig(config).map((p) => p.message);
    const tooLarge = runProblems({ config, steps: record.totalSteps, monitor, checkpointEvery }, { dataset, maxBufferBytes: ctx.readyBackend.maxBufferBytes }).find(
      (p) => p.field === 'batchSize',
    );
    if (tooLarge) problems.push(tooLarge.message);
    if (problems.length) throw new TrainerError('bad-config', `this run cannot go on on this GPU: ${problems.join('; ')}`);
    let run: Run;
    try {
      run = buildRun({
        name: record.name,
        config,
        dataset,
        monitor,
        totalSteps: record.totalSteps,
        checkpointEvery,
        checkpoint: { state: checkpoint, id: record.id, createdAt: record.createdAt },
      });
    } catch (e) {
      throw new TrainerError('dataset-failed', `the checkpoint could not be loaded: ${(e as Error).message}`);
    }
    ctx.run = run;
    ctx.lastMetrics = checkpoint.lastMetrics;
    this.send({ type: 'run-restored', run: summaryOf(run, ctx.dataset, ctx.lastMetrics), config, monitor, checkpointEvery, history: run.history.steps.slice() });
    const probe = run.monitor.probeSet();
    this.send({ type: 'probe', probe }, [probe.pixels.buffer]);
    const { baselines, snapshots } = run.history;
    if (baselines) this.send({ type: 'baselines', ...baselines });
    for (const snapshot of snapshots) {
      const coords = snapshot.coords.slice();
      this.send({ type: 'snapshot', snapshot: { ...snapshot, coords } }, [coords.buffer]);
    }
    if (run.state.step >= run.totalSteps) {
      ctx.reportState();
      return;
    }
    launch(ctx, run, false);
  }

  // ---- Models loaded from a zip -----------------------------------------------------------------------------

  private async loadModel(bytes: Uint8Array, fileName: string, monitor: MonitorSettings): Promise<void> {
    const loaded = readModel(bytes, fileName);
    this.ctx.loadedModel = loaded;
    this.ctx.loadedMonitor = monitor;
    await openLoadedModel(this.ctx, loaded, monitor);
  }

  // ---- Beside training: maps, neighbours, downloads, the augmentation preview -------------------------------

  private requireRun(what: string): Run {
    if (!this.ctx.run) throw new TrainerError('no-run', `train a model first, then ${what}`);
    return this.ctx.run;
  }

  private async previewAugment(augment: AugmentConfig, count: number, seed: number): Promise<void> {
    const dataset = this.ctx.dataset;
    if (!dataset) throw new TrainerError('no-dataset', 'load some images to preview their augmentations');
    const problems = validateTrainConfig({ ...defaultTrainConfig(dataset.imageSize, dataset.channels), augment }).map((p) => p.message);
    if (problems.length) throw new TrainerError('bad-config', problems.join('; '));
    const rng = new Random(seed);
    const indices = rng.permutation(dataset.count).slice(0, Math.min(count, dataset.count));
    const pixels = await augmentedPairs(dataset, indices, augment, rng);
    this.send({ type: 'augment-preview', pixels, count: indices.length, imageSize: dataset.imageSize, channels: dataset.channels }, [pixels.buffer]);
  }

  private async exportModel(includeHead: boolean): Promise<void> {
    const run = this.requireRun('download it');
    const { config, step } = run.state;
    this.send({ type: 'export-progress', kind: 'model', done: 0, total: 1 });
    const files = await modelBundle(run.state.model, { config, step, metrics: this.ctx.lastMetrics, includeHead, version: __TABCLR_VERSION__, torchModule: TORCH_MODULE_SOURCE });
    const fileName = `tabclr-${config.model.encoder}-step${step}.zip`;
    this.send({ type: 'export', kind: 'model', fileName, files }, files.map((f) => f.bytes.buffer as ArrayBuffer));
  }

  private async exportEmbeddings(): Promise<void> {
    const run = this.requireRun('export its embeddings');
    const dataset = this.ctx.dataset!;
    const files = await embeddingsBundle(run.state.model.encoder, dataset, run.state.config.batchSize, this.ctx.env.spritePng, (done, total) =>
      this.send({ type: 'export-progress', kind: 'embeddings', done, total }),
    );
    const fileName = `tabclr-embeddings-step${run.state.step}.zip`;
    this.send({ type: 'export', kind: 'embeddings', fileName, files }, files.map((f) => f.bytes.buffer as ArrayBuffer));
  }

  private async umapSnapshot(): Promise<void> {
    const run = this.requireRun('map its representation');
    const snapshot = await run.monitor.umapSnapshot(run.state.model.encoder, run.state.step, {
      onProgress: (epoch, epochs) => this.send({ type: 'umap-progress', epoch, epochs }),
      nextTask: () => this.ctx.env.nextTask(),
    });
    this.send({ type: 'snapshot', snapshot }, [snapshot.coords.buffer]);
  }

  private async neighbours(position: number, k: number): Promise<void> {
    const run = this.requireRun('see neighbours under its encoder');
    if (!(Number.isInteger(k) && k >= 1)) throw new TrainerError('bad-config', `number of neighbours must be ≥ 1, got ${k}`);
    const step = run.state.step;
    const neighbours = await run.monitor.neighbours(run.state.model.encoder, step, position, k);
    this.send({ type: 'neighbours', position, step, neighbours });
  }

  // ---- Explore: the whole folder -----------------------------------------------------------------------------

  private async explore(request: ExploreRequest): Promise<void> {
    const run = this.requireRun('explore the images with its encoder');
    const dataset = this.ctx.dataset;
    if (!dataset) throw new TrainerError('no-dataset', 'load some images to explore');
    if (!['trained', 'untrained', 'pixels'].includes(request.representation)) throw new TrainerError('bad-config', `unknown representation "${String(request.representation)}"`);
    if (!(Number.isInteger(request.neighbours) && request.neighbours >= 1 && request.neighbours <= 100)) {
      throw new TrainerError('bad-config', `neighbours per image must be 1–100, got ${request.neighbours}`);
    }
    if (this.ctx.exploring) throw new TrainerError('busy', 'an exploration is under way: wait for it or cancel it');
    const controller = new AbortController();
    this.ctx.exploring = controller;
    const cancelled = () => this.send({ type: 'explore-cancelled', reason: (controller.signal.reason as Error).message });
    let lastProgress = -Infinity;
    try {
      await this.besideTraining(async () => {
        try {
          const { result, kept } = await explore(
            {
              run,
              dataset,
              signal: controller.signal,
              beforeChunk: () => this.ctx.env.beforeExploreChunk?.(controller.signal) ?? Promise.resolve(),
              progress: (progress) => {
                const now = this.ctx.env.now();
                // At most ten progress messages a second.
                if (now - lastProgress < 100 && progress.done < progress.total) return;
                lastProgress = now;
                this.send({ type: 'explore-progress', progress });
              },
            },
            request,
            () => this.ctx.env.now(),
          );
          // Cancelled after its last check (other images came meanwhile): its answers and its encoder are stale.
          if (controller.signal.aborted) {
            disposeKept(kept);
            return cancelled();
          }
          disposeKept(this.ctx.kept);
          this.ctx.kept = kept;
          this.send({ type: 'explore-result', result }, [result.vectors, result.thumbnails, result.coords, result.groups, result.outlierScores, result.neighbours.indices, result.neighbours.similarities].map((a) => a.buffer as ArrayBuffer));
        } catch (e) {
          if (controller.signal.aborted) return cancelled();
          if (e instanceof RangeError) throw new TrainerError('bad-config', e.message);
          throw e;
        }
      });
    } finally {
      if (this.ctx.exploring === controller) this.ctx.exploring = null;
    }
  }

  private async search(pixels: Uint8Array, k: number): Promise<void> {
    const run = this.requireRun('search with its encoder');
    const kept = this.ctx.kept;
    const dataset = this.ctx.dataset;
    if (!kept || kept.runId !== run.id || !dataset || kept.vectors.length !== dataset.count * kept.dim) {
      throw new TrainerError('no-run', 'explore the images first: a search compares with their representation');
    }
    if (!(Number.isInteger(k) && k >= 1)) throw new TrainerError('bad-config', `number of images to find must be ≥ 1, got ${k}`);
    let neighbours;
    try {
      neighbours = await searchByImage(dataset, kept, pixels, k);
    } catch (e) {
      if (e instanceof RangeError) throw new TrainerError('bad-config', e.message);
      throw e;
    }
    this.send({ type: 'explore-search-result', representation: kept.representation, step: kept.step, neighbours });
  }

  // ---- Checks of the device ---------------------------------------------------------------------------------

  private async selfTest(steps: number): Promise<void> {
    this.ctx.phase = 'self-testing';
    try {
      // The self-test switches tfjs to the CPU backend for a moment: nothing may use the GPU's tensors meanwhile.
      await this.ctx.sideWork;
      const training = await checkTraining(steps, (m) => this.send({ type: 'self-test-progress', stage: 'training', step: m.step, total: steps }));
      this.send({ type: 'self-test-progress', stage: 'agreement', step: 0, total: 1 });
      const agreement = await checkBackendAgreement('cpu');
      this.send({ type: 'self-test-result', training, agreement });
    } finally {
      this.ctx.phase = 'ready';
    }
  }

  /** Square matmuls, timed after a warm-up: the backend's best rate, which a step's achieved FLOP/s is compared with. */
  private async measureMatmul(size: number, repeats: number): Promise<void> {
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
      const started = this.ctx.env.now();
      // Queued back to back; the GPU runs them in order, so one read of the last waits for all of them.
      let c = tf.matMul(a, b);
      for (let i = 1; i < repeats; i++) {
        c.dispose();
        c = tf.matMul(a, b);
      }
      await settled(c);
      c.dispose();
      const seconds = (this.ctx.env.now() - started) / 1000;
      this.send({ type: 'matmul-rate', size, flopsPerSec: (2 * size ** 3 * repeats) / seconds });
    } finally {
      tf.dispose([a, b]);
    }
  }
}
