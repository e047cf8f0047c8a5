// Saved runs: the checkpoint list, the checkpoint interval, what the last checkpoint did, and resuming a run after a
// reload with its settings, curves and maps as they were.
import type { StateCreator } from 'zustand';
import type { RunSummary } from '../export/checkpoints';
import { IMPORT_SIZES } from './data';
import type { FaultReport, FromWorker, LoadedModelSummary } from '../worker/protocol';
import { metricsHistory } from './metricsHistory';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

type RunsMessage = Extract<FromWorker, { type: 'runs' | 'checkpoint' | 'run-restored' | 'run-rewound' | 'model-loaded' }>;

export interface CheckpointStatus {
  status: 'saving' | 'saved' | 'failed';
  runId: string;
  step: number;
  message: string | null;
  /** When the page heard it (ms since the epoch). */
  at: number;
}

/** Steps between checkpoints unless the user says otherwise: a few seconds of a GPU's work, a minute of a laptop's. */
export const DEFAULT_CHECKPOINT_EVERY = 50;

export interface RunsSlice {
  runs: RunSummary[];
  /** False where the browser keeps no checkpoints (IndexedDB unavailable). */
  runsAvailable: boolean;
  checkpointEvery: number;
  checkpoint: CheckpointStatus | null;
  /** The run the trainer holds (training, paused, finished or resumed); null before the first start. */
  currentRunId: string | null;
  /** The run with a checkpoint saved (or restored from one): the one a restarted trainer can bring back. */
  resumableRunId: string | null;
  /** A resume asked for and not yet answered. */
  resuming: string | null;
  /** The model loaded from a downloaded zip, if any: it maps the images, and the next run starts from it. */
  loadedModel: LoadedModelSummary | null;
  /** A model zip being read and checked. */
  loadingModel: string | null;
  loadModel(file: File): Promise<void>;
  forgetModel(): void;
  setCheckpointEvery(steps: number): void;
  resumeRun(id: string): void;
  deleteRun(id: string): void;
  receiveRuns(message: RunsMessage): void;
  /** A fault the trainer met: shown with what was done; a lost device restarts the trainer. */
  receiveFault(fault: FaultReport): void;
}


export const runsLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    // Requests the old worker will never answer go; the run to resume (pendingResume) is the session's.
    set({ currentRunId: null, checkpoint: null, resuming: null, loadingModel: null, loadedModel: null });
  },
  onRequestFailed(request) {
    if (request === 'load-model') set({ loadingModel: null });
    if (request === 'resume-run') {
      set({ resuming: null });
      // A restarted trainer whose run could not come back still gets images to work with.
      if (!get().dataset && !get().pendingImages) get().chooseSample();
    }
  },
});

export const createRunsSlice: StateCreator<Store, [], [], RunsSlice> = (set, get) => ({
  runs: [],
  runsAvailable: true,
  checkpointEvery: DEFAULT_CHECKPOINT_EVERY,
  checkpoint: null,
  currentRunId: null,
  resumableRunId: null,
  resuming: null,
  loadedModel: null,
  loadingModel: null,

  async loadModel(file) {
    if (get().loadingModel) return;
    set({ loadingModel: file.name });
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      get().send({ type: 'load-model', bytes, fileName: file.name, monitor: get().monitorSettings }, [bytes.buffer]);
    } catch (e) {
      set({ loadingModel: null, problem: { code: 'bad-model', message: `${file.name} could not be read: ${(e as Error).message}`, recoverable: true } });
    }
  },

  forgetModel() {
    get().send({ type: 'forget-model' });
  },

  setCheckpointEvery(checkpointEvery) {
    set({ checkpointEvery });
    get().checkSettings();
  },

  resumeRun(id) {
    set({ resuming: id });
    get().send({ type: 'resume-run', id });
  },

  deleteRun(id) {
    get().send({ type: 'delete-run', id });
  },

  receiveFault(fault) {
    if (fault.kind === 'device-lost') {
      get().restartTrainer({ code: 'device-lost', message: fault.message, recoverable: true }, fault.runId);
      return;
    }
    set({ problem: { code: fault.kind, message: fault.message, recoverable: true, ...(fault.suggestedBatch !== null && { suggestedBatch: fault.suggestedBatch }) } });
    const settings = get().settings;
    if (settings && fault.learningRate !== null) {
      set({ settings: { ...settings, config: { ...settings.config, optim: { ...settings.config.optim, learningRate: fault.learningRate } } } });
    }
  },

  receiveRuns(message) {
    switch (message.type) {
      case 'run-rewound': {
        // The curves keep the steps up to the restored one; maps after it go too.
        metricsHistory.clear();
        metricsHistory.pushMany(message.history);
        const snapshots = get().snapshots.filter((s) => s.step <= message.step);
        for (const s of snapshots) if (s.knnAccuracy !== null && s.method === 'pca') metricsHistory.pushKnn(s.step, s.knnAccuracy, s.probeAccuracy ?? NaN);
        set({ snapshots, shownSnapshot: null, latest: message.history.at(-1) ?? null, step: message.step });
        break;
      }
      case 'runs':
        set({ runs: message.runs, runsAvailable: message.available });
        break;
      case 'checkpoint': {
        const { status, runId, step } = message;
        set({ checkpoint: { status, runId, step, message: message.message, at: Date.now() }, currentRunId: runId, ...(status === 'saved' ? { resumableRunId: runId } : {}) });
        break;
      }
      case 'model-loaded': {
        const { model } = message;
        set({ loadedModel: model, loadingModel: null });
        get().inputTaken('model');
        get().checkSettings();
        if (!model) break;
        // The next run must have the model's architecture: its settings become the form's.
        const steps = get().settings?.steps ?? model.config.optim.totalSteps;
        set({ settings: { config: model.config, steps } });
        get().updateSettings((s) => s);
        const size = model.config.model.imageSize;
        if ((IMPORT_SIZES as readonly number[]).includes(size)) get().setImportSize(size);
        break;
      }
      case 'run-restored': {
        const { run, config, monitor, checkpointEvery, history } = message;
        // The data set arrived just before (and reset the monitor); the run's own settings and curves replace the defaults.
        get().resetMonitor();
        metricsHistory.pushMany(history);
        set({
          resuming: null,
          currentRunId: run.id,
          resumableRunId: run.id,
          checkpoint: null,
          checkpointEvery,
          monitorSettings: monitor,
          settings: { config, steps: run.totalSteps },
          latest: history.at(-1) ?? null,
          step: run.step,
        });
        // Checked as if typed: the run's settings on this device.
        get().updateSettings((s) => s);
        break;
      }
    }
  },
});
