// The saved runs: checkpoints written to and read from IndexedDB, and the images a saved run was trained on.
import type { CheckpointState, CheckpointStorage, DatasetIdentity, RunRecord, RunSummary } from '../export/checkpoints';
import { StorageUnavailable } from '../data/database';
import { toSingleChannel } from '../data/files';
import { sha256 } from '../data/importer';
import type { StepMetrics } from '../engine/step';
import { TrainerError } from './errors';
import type { HandlerEnvironment } from './environment';
import type { DatasetPayload } from './protocol';
import type { Run } from './run';

/** What the page lists of a run: its progress, and the images and loss it has now. */
export function summaryOf(run: Run, dataset: DatasetPayload | null, lastMetrics: StepMetrics | null): RunSummary {
  const { config } = run.state;
  return {
    id: run.id,
    name: run.name,
    createdAt: run.createdAt,
    updatedAt: Date.now(),
    step: run.state.step,
    totalSteps: run.totalSteps,
    encoder: config.model.encoder,
    imageSize: config.model.imageSize,
    datasetName: dataset?.name ?? '',
    imageCount: dataset?.count ?? 0,
    lastLoss: lastMetrics?.loss ?? null,
  };
}

export class RunArchive {
  /** Opened on first use; null where the browser keeps no checkpoints. */
  private store: Promise<CheckpointStorage | null> | null = null;
  /** SHA-256 of each data set's image store, worked out once. */
  private readonly fingerprints = new WeakMap<DatasetPayload, Promise<string>>();

  constructor(private readonly env: Pick<HandlerEnvironment, 'openCheckpoints' | 'loadSample' | 'readCachedImages'>) {}

  private checkpoints(): Promise<CheckpointStorage | null> {
    this.store ??= this.env.openCheckpoints().catch(() => null);
    return this.store;
  }

  /** Whether this browser keeps checkpoints (IndexedDB available). */
  async available(): Promise<boolean> {
    return (await this.checkpoints()) !== null;
  }

  /** SHA-256 of the pixels, and of the labels where there are any: the same images with other labels are another data set. */
  private fingerprintOf(dataset: DatasetPayload): Promise<string> {
    let fingerprint = this.fingerprints.get(dataset);
    if (!fingerprint) {
      const { pixels, labels } = dataset;
      fingerprint = Promise.all([sha256(pixels), labels ? sha256(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength)) : 'unlabelled']).then(
        ([p, l]) => `${p}:${l}`,
      );
      this.fingerprints.set(dataset, fingerprint);
    }
    return fingerprint;
  }

  /** The saved runs, or null where the browser keeps none. */
  async list(): Promise<RunSummary[] | null> {
    const store = await this.checkpoints();
    return store ? await store.list() : null;
  }

  /**
   * Writes the run's checkpoint from its good state, working out the images' identity at the first one. Throws what
   * the storage throws (full, private mode). Only call it where the store is available.
   */
  async save(run: Run, good: NonNullable<Run['lastGood']>, dataset: DatasetPayload, lastMetrics: StepMetrics | null): Promise<void> {
    const store = (await this.checkpoints())!;
    if (!run.identity) {
      const { name, count, imageSize, channels, labels, classNames, names } = dataset;
      const fingerprint = await this.fingerprintOf(dataset);
      run.identity = { name, count, imageSize, channels, labels, classNames, names, fingerprint, source: dataset.source ?? { kind: 'memory' } };
    }
    const record: Omit<RunRecord, 'generation'> = {
      ...summaryOf(run, dataset, lastMetrics),
      config: run.state.config,
      monitor: run.monitor.settings,
      checkpointEvery: run.checkpointEvery,
    };
    await store.save(record, { trainState: good.trainState, sampler: good.sampler, history: run.history, dataset: run.identity, lastMetrics });
  }

  async delete(id: string): Promise<void> {
    const store = await this.checkpoints();
    if (!store) throw new TrainerError('internal', 'this browser keeps no checkpoints (IndexedDB is unavailable)');
    await store.delete(id);
  }

  /** A saved run's record and checkpoint. */
  async load(id: string): Promise<{ record: RunRecord; state: CheckpointState }> {
    const store = await this.checkpoints();
    if (!store) throw new TrainerError('internal', 'this browser keeps no checkpoints (IndexedDB is unavailable)');
    const saved = await store.load(id);
    if (!saved) throw new TrainerError('no-dataset', 'that saved run is gone (deleted in another tab?)');
    return saved;
  }

  /** The images a saved run was trained on: those loaded now if they are the same, else from where they came. */
  async datasetFor(identity: DatasetIdentity, loaded: DatasetPayload | null): Promise<DatasetPayload> {
    if (loaded && (await this.fingerprintOf(loaded)) === identity.fingerprint) return loaded;
    const { name, count, imageSize, channels, labels, classNames, names, source } = identity;
    let pixels: Uint8Array;
    if (source.kind === 'sample') {
      pixels = (await this.env.loadSample(source.url)).pixels;
    } else if (source.kind === 'files') {
      const bytes = imageSize * imageSize * channels;
      pixels = new Uint8Array(count * bytes);
      let missing = 0;
      try {
        await this.env.readCachedImages(source.cacheKeys, (i, rgb) => {
          if (rgb) pixels.set(channels === 1 ? toSingleChannel(rgb) : rgb, i * bytes);
          else missing += 1;
        });
      } catch (e) {
        if (!(e instanceof StorageUnavailable)) throw e;
        throw new TrainerError('no-dataset', `the run's images ("${name}") are in the image cache, which this tab cannot read now: ${e.message}.`);
      }
      if (missing > 0) {
        throw new TrainerError(
          'no-dataset',
          `${missing} of the run's ${count} images are no longer in this browser's image cache. Choose the same folder ("${name}") again at ${imageSize} px, then resume the run.`,
        );
      }
    } else {
      throw new TrainerError('no-dataset', `the run's images ("${name}") are not kept in this browser. Load the same images again, then resume the run.`);
    }
    const dataset: DatasetPayload = { name, pixels, count, imageSize, channels, labels, classNames, names, source };
    if ((await this.fingerprintOf(dataset)) !== identity.fingerprint) {
      throw new TrainerError('no-dataset', `the images of "${name}" have changed since the run was saved, so it cannot continue on them. Start a new run.`);
    }
    return dataset;
  }
}
