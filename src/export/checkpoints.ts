// Checkpoints in IndexedDB: every run's latest state, so a closed tab loses at most the steps since the last write.
//
// Atomicity. A run's record (summary, settings, which generation is current) lives in `runs`; the state itself
// (weights, optimiser, sampler, history) in `states`, one entry per generation. A save writes generation g + 1 in one
// transaction, then, in a second, points the run at g + 1 and deletes g. IndexedDB commits a transaction entirely or
// not at all, so a tab closed at any moment leaves the run pointing at a complete generation; a half-finished save
// leaves only an orphan, which the next open deletes.
import type { DBSchema } from 'idb';
import { Database, StorageUnavailable, type DatabaseStatus } from '../data/database';
import type { SamplerState } from '../engine/batches';
import { upgradeConfig, type TrainConfig } from '../engine/config';
import type { SavedTrainState } from '../engine/savedState';
import type { StepMetrics } from '../engine/step';
import type { EvaluationBaselines, MonitorSettings, RecordedStep, SnapshotReport } from '../worker/protocol';

/** Where a run's images can be found again. */
export type DatasetSource =
  /** The built-in sample set, fetched again from the app. */
  | { kind: 'sample'; url: string }
  /** Imported files, whose decoded pixels are in the decode cache under these keys (in data-set order). */
  | { kind: 'files'; cacheKeys: string[] }
  /** Handed over whole (tests, other tools), or imported without a cache: only the same images, loaded again, resume the run. */
  | { kind: 'memory' };

/** What a checkpoint remembers of the images it was trained on. */
export interface DatasetIdentity {
  name: string;
  count: number;
  imageSize: number;
  channels: 1 | 3;
  /** SHA-256 of the image store: a resumed run trains on exactly the same images, or not at all. */
  fingerprint: string;
  source: DatasetSource;
  labels: Int32Array | null;
  classNames: string[];
  names: string[];
}

/** A saved run as the page lists it. */
export interface RunSummary {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  /** Steps taken at the last checkpoint. */
  step: number;
  totalSteps: number;
  encoder: string;
  imageSize: number;
  datasetName: string;
  imageCount: number;
  lastLoss: number | null;
}

export interface RunRecord extends RunSummary {
  /** The generation of `states` that is this run's current checkpoint. */
  generation: number;
  config: TrainConfig;
  monitor: MonitorSettings;
  checkpointEvery: number;
}

/** The run's history as the page draws it, stored with the state it belongs to. */
export interface RunHistory {
  steps: RecordedStep[];
  snapshots: SnapshotReport[];
  /** kNN accuracy of the encoder as the run started and of raw pixels, and the linear probe's (absent in runs saved before it). */
  baselines: (EvaluationBaselines & { probe?: EvaluationBaselines }) | null;
}

export interface CheckpointState {
  trainState: SavedTrainState;
  sampler: SamplerState;
  history: RunHistory;
  dataset: DatasetIdentity;
  lastMetrics: StepMetrics | null;
}

interface StoredState extends CheckpointState {
  runId: string;
  generation: number;
}

interface RunsSchema extends DBSchema {
  runs: { key: string; value: RunRecord };
  states: { key: [string, number]; value: StoredState; indexes: { byRun: string } };
}

export const CHECKPOINT_DB = 'tabclr-checkpoints';
export const CHECKPOINT_VERSION = 1;

/** How long a checkpoint (or the list of runs) waits for the store to open before it is reported as not saved. */
const PATIENCE_MS = 5000;

export type CheckpointDatabase = Database<RunsSchema>;

/**
 * The checkpoints' database, opened on first use and held (src/data/database.ts: it closes on another tab's upgrade,
 * and no use waits on a tab that keeps it from opening). `version` is for the browser tests, which play a newer
 * release (src/worker/faults.ts).
 */
export function checkpointDatabase(options: { version?: number; onStatus?(status: DatabaseStatus): void } = {}): CheckpointDatabase {
  return new Database<RunsSchema>({
    name: CHECKPOINT_DB,
    version: options.version ?? CHECKPOINT_VERSION,
    label: 'saved runs',
    patienceMs: PATIENCE_MS,
    onStatus: options.onStatus,
    upgrade(database, _oldVersion, _newVersion, transaction) {
      // Runs are never dropped: whatever version the database is at (or a half-made one), only what is missing is made.
      if (!database.objectStoreNames.contains('runs')) database.createObjectStore('runs', { keyPath: 'id' });
      const states = database.objectStoreNames.contains('states')
        ? transaction.objectStore('states')
        : database.createObjectStore('states', { keyPath: ['runId', 'generation'] });
      if (!states.indexNames.contains('byRun')) states.createIndex('byRun', 'runId');
    },
  });
}

/** What the trainer needs of a checkpoint store: CheckpointStore in IndexedDB, or a test's wrapper around it. */
export interface CheckpointStorage {
  list(): Promise<RunSummary[]>;
  load(id: string): Promise<{ record: RunRecord; state: CheckpointState } | null>;
  save(record: Omit<RunRecord, 'generation'>, state: CheckpointState, hooks?: SaveHooks): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface SaveHooks {
  /** Runs between writing the new generation and switching to it: tests close the tab here. */
  beforeCommit?(): Promise<void>;
}

/**
 * Every method throws StorageUnavailable (with the reason in words) when the database cannot be used now: another
 * tab keeps it from opening, or took it over with a newer version.
 */
export class CheckpointStore implements CheckpointStorage {
  private constructor(private readonly database: CheckpointDatabase) {}

  /**
   * The store on `database` (its owner's, who closes it; by default one of its own, closed by `close`), or null where
   * IndexedDB cannot open it at all (training then goes on without checkpoints). A database another tab keeps from
   * opening gives a store all the same: it works once the other tab closes.
   */
  static async open(database: CheckpointDatabase = checkpointDatabase()): Promise<CheckpointStore | null> {
    const store = new CheckpointStore(database);
    try {
      await store.removeOrphans();
    } catch (e) {
      if (!(e instanceof StorageUnavailable) || database.unavailable) return null;
    }
    return store;
  }

  /**
   * States older than their run's current one: left by a deleted run or a save whose second transaction never ran.
   * A newer state is left alone, since another tab may be between the two transactions of its save; an abandoned one
   * is overwritten by the run's next save.
   */
  private removeOrphans(): Promise<void> {
    return this.database.use(async (db) => {
      const tx = db.transaction(['runs', 'states'], 'readwrite');
      const current = new Map((await tx.objectStore('runs').getAll()).map((r) => [r.id, r.generation]));
      for (const key of await tx.objectStore('states').getAllKeys()) {
        const [runId, generation] = key;
        const now = current.get(runId);
        if (now !== undefined && generation < now) await tx.objectStore('states').delete(key);
      }
      await tx.done;
    });
  }

  /** Saved runs, the most recently updated first. */
  list(): Promise<RunSummary[]> {
    return this.database.use(async (db) => {
      const runs = await db.getAll('runs');
      return runs.map(summaryOf).sort((a, b) => b.updatedAt - a.updatedAt);
    });
  }

  async load(id: string): Promise<{ record: RunRecord; state: CheckpointState } | null> {
    const { record, state } = await this.database.use(async (db) => {
      const tx = db.transaction(['runs', 'states'], 'readonly');
      const record = await tx.objectStore('runs').get(id);
      const state = record ? await tx.objectStore('states').get([id, record.generation]) : undefined;
      await tx.done;
      return { record, state };
    });
    if (!record || !state) return null;
    const { runId: _runId, generation: _generation, ...rest } = state;
    // Runs saved by an earlier version come back in today's shape (the training state was stored as `snapshot`).
    const { history, lastMetrics } = rest;
    const trainState = rest.trainState ?? (rest as unknown as { snapshot: SavedTrainState }).snapshot;
    return {
      record: { ...record, config: upgradeConfig(record.config) },
      state: { ...rest, trainState, history: { ...history, steps: history.steps.map(upgradeStep) }, lastMetrics: lastMetrics && upgradeStep(lastMetrics) },
    };
  }

  /**
   * Saves the run's new state atomically (see the top of this file). `record` is the run as it is now; its generation
   * is set here. Throws QuotaExceededError, StorageUnavailable and the like: the caller says so and trains on.
   */
  save(record: Omit<RunRecord, 'generation'>, state: CheckpointState, hooks: SaveHooks = {}): Promise<void> {
    return this.database.use(async (db) => {
      const previous = await db.get('runs', record.id);
      const generation = (previous?.generation ?? 0) + 1;
      await db.put('states', { ...state, runId: record.id, generation });
      await hooks.beforeCommit?.();
      const tx = db.transaction(['runs', 'states'], 'readwrite');
      // The new state must still be there (another tab may have deleted the run meanwhile): else nothing changes.
      if (!(await tx.objectStore('states').getKey([record.id, generation]))) {
        tx.done.catch(() => undefined);
        tx.abort();
        throw new Error('the run was deleted in another tab while its checkpoint was written');
      }
      await tx.objectStore('runs').put({ ...record, generation });
      if (previous) await tx.objectStore('states').delete([record.id, previous.generation]);
      await tx.done;
    });
  }

  /** Deletes the run and every state of it (a save in progress elsewhere then fails its check and changes nothing). */
  delete(id: string): Promise<void> {
    return this.database.use(async (db) => {
      const tx = db.transaction(['runs', 'states'], 'readwrite');
      await tx.objectStore('runs').delete(id);
      for (const key of await tx.objectStore('states').index('byRun').getAllKeys(id)) await tx.objectStore('states').delete(key);
      await tx.done;
    });
  }

  /** Closes the database: the owner's call (the worker holds its own for its life and never makes it). */
  close(): void {
    this.database.close();
  }
}

function summaryOf(record: RunRecord): RunSummary {
  const { id, name, createdAt, updatedAt, step, totalSteps, encoder, imageSize, datasetName, imageCount, lastLoss } = record;
  return { id, name, createdAt, updatedAt, step, totalSteps, encoder, imageSize, datasetName, imageCount, lastLoss };
}

/** A step recorded before the method seam: SimCLR's NT-Xent and contrastive accuracy had fields of their own. */
type StepBeforeMethods<T> = Omit<T, 'methodLoss' | 'diagnostics'> & { ntXent: number; contrastiveAcc: number };

/** A recorded step in today's shape, whichever version recorded it. */
export function upgradeStep<T extends Pick<StepMetrics, 'methodLoss' | 'diagnostics'>>(step: T | StepBeforeMethods<T>): T {
  if ('methodLoss' in step) return step;
  const { ntXent, contrastiveAcc, ...rest } = step;
  return { ...rest, methodLoss: ntXent, diagnostics: { contrastiveAcc } } as unknown as T;
}

/** Why a failed write failed, in words. */
export function storageProblem(e: unknown): string {
  const name = (e as Error)?.name;
  if (name === 'QuotaExceededError') return 'browser storage is full';
  return (e as Error)?.message ?? String(e);
}
