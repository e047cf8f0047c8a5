// The trainer session: which backend the worker got, its state, and what went wrong.
import type { StateCreator } from 'zustand';
import { connectTrainer, type TrainerConnection } from '../worker/client';
import type { BackendPreference, BackendReport, ErrorCode, FromWorker, FaultReport, KnownResultCheck, RunInfo, StepReport, ToWorker, TrainerState } from '../worker/protocol';
import { notifyWorkerMessages } from './automation';
import { metricsHistory } from './metricsHistory';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

export interface TrainerProblem {
  code: ErrorCode | 'worker-crashed' | FaultReport['kind'];
  message: string;
  recoverable: boolean;
  /** Out of GPU memory: the smaller batch the paused run can go on with (the banner offers it). */
  suggestedBatch?: number;
}

export interface SessionSlice {
  connection: TrainerConnection | null;
  /** 'starting' until the worker reports its backend, 'failed' when it cannot run at all. */
  phase: 'disconnected' | 'starting' | 'ready' | 'failed';
  backend: BackendReport | null;
  knownResult: KnownResultCheck | null;
  trainerState: TrainerState;
  step: number;
  problem: TrainerProblem | null;
  /** The current run's size and cost, once its pipelines are compiled. */
  runInfo: RunInfo | null;
  /** The backend's best measured matmul rate (FLOP/s), when a benchmark asked for it. */
  matmulRate: number | null;
  /** What connect was given, so that a restart starts the same way. */
  preference: BackendPreference;
  /** The URL's test parameters, for a build made for the browser tests (see ToWorker's init). */
  testQuery: string;
  /** A run to resume as soon as a restarted trainer is ready. */
  pendingResume: string | null;
  /** When the trainer was restarted lately: more than a few restarts a minute means it cannot run here. */
  restarts: number[];
  connect(preference?: BackendPreference, testQuery?: string, restarted?: boolean): void;
  /**
   * Replaces a trainer whose GPU device was lost or that crashed: a new worker, a new backend, and the active run
   * (if any) resumed from its last checkpoint.
   */
  restartTrainer(problem: TrainerProblem, resumeRunId: string | null): void;
  send(message: ToWorker, transfer?: Transferable[]): void;
  dismissProblem(): void;
  /** Applies a frame's worth of worker messages. */
  receive(messages: FromWorker[]): void;
}

export const sessionLifecycle: LifecycleOf = (set) => ({
  onTrainerRestart() {
    set({ backend: null, trainerState: 'idle', step: 0, runInfo: null });
  },
  onRequestFailed() {},
});

export const createSessionSlice: StateCreator<Store, [], [], SessionSlice> = (set, get) => ({
  connection: null,
  phase: 'disconnected',
  backend: null,
  knownResult: null,
  trainerState: 'idle',
  step: 0,
  problem: null,
  runInfo: null,
  matmulRate: null,
  preference: 'auto',
  testQuery: '',
  pendingResume: null,
  restarts: [],

  connect(preference = 'auto', testQuery = '', restarted = false) {
    if (get().connection) return;
    const connection = connectTrainer(
      (messages) => {
        // Messages still queued from a replaced worker are dropped.
        if (get().connection === connection) get().receive(messages);
      },
      (message) => {
        if (get().connection !== connection) return;
        const { trainerState, currentRunId, resumableRunId } = get();
        const active = trainerState === 'training' || trainerState === 'compiling' || trainerState === 'paused';
        // Only a run that has a checkpoint can come back.
        get().restartTrainer(
          { code: 'worker-crashed', message: `The trainer stopped unexpectedly (${message}).`, recoverable: true },
          active && currentRunId !== null && currentRunId === resumableRunId ? currentRunId : null,
        );
      },
    );
    set({ connection, phase: 'starting', preference, testQuery });
    connection.send({ type: 'init', backend: preference, restarted, ...(testQuery && { testQuery }) });
  },

  restartTrainer(problem, resumeRunId) {
    const now = Date.now();
    const restarts = [...get().restarts.filter((t) => now - t < 60_000), now];
    get().connection?.terminate();
    if (restarts.length > 3) {
      set({ connection: null, phase: 'failed', restarts, problem: { ...problem, message: `${problem.message} It failed again after three restarts in a minute, so tabclr stopped trying: reload the page.`, recoverable: false } });
      return;
    }
    const hadImages = get().dataset !== null;
    // Images it was importing wait for the new trainer (src/store/pending.ts).
    get().forgetTrainer();
    const waiting = get().pendingImages?.choice.name;
    const then = resumeRunId
      ? ' tabclr restarted its trainer and continues the run from its last checkpoint.'
      : ` tabclr restarted its trainer.${waiting ? ` It imports ${waiting} again as soon as it is ready.` : hadImages ? ' It starts with the sample images: choose your folder again to go on with yours (decoded images come from the cache).' : ''}`;
    set({
      connection: null,
      restarts,
      problem: { ...problem, message: problem.message + then, recoverable: true },
      pendingResume: resumeRunId,
    });
    // A restarted trainer is told so: a build for the browser tests then leaves out the one-off faults it met.
    get().connect(get().preference, get().testQuery, true);
  },

  send(message, transfer) {
    const { connection } = get();
    if (!connection) throw new Error('the trainer is not connected');
    connection.send(message, transfer);
  },

  dismissProblem() {
    set({ problem: null });
  },

  receive(messages) {
    // A frame's step metrics go into the history in one batch: charts redraw once. Messages that replace the history
    // (a rewind, a restored run) take the steps before them first, so that no step from before a rewind survives it.
    const reports: StepReport[] = [];
    const flushReports = () => {
      if (!reports.length) return;
      metricsHistory.pushMany(reports);
      get().receiveMetrics(reports.at(-1)!);
      reports.length = 0;
    };
    const connection = get().connection;
    for (const message of messages) {
      // A fault can replace the worker mid-batch: the old worker's remaining messages (its steps too) no longer apply.
      if (get().connection !== connection) {
        reports.length = 0;
        break;
      }
      switch (message.type) {
        case 'ready':
          set({ phase: 'ready', backend: message.backend, knownResult: message.check });
          // After a restart, the run that was training comes back (with its images); on first open, the built-in
          // sample images, so that Start works with no folder at all.
          if (get().pendingResume) {
            get().resumeRun(get().pendingResume!);
            set({ pendingResume: null });
          } else if (!get().dataset && !get().pendingImages) get().chooseSample();
          // Images or a model chosen while the trainer started: taken first, in place of the sample set.
          else get().takePendingInput();
          // Saved runs, so that a reopened page can offer to resume the last one.
          get().send({ type: 'list-runs' });
          break;
        case 'state':
          set({ trainerState: message.state, step: message.step, ...(message.runId ? { currentRunId: message.runId } : {}) });
          break;
        case 'metrics':
          reports.push(message.report);
          break;
        case 'fault':
          get().receiveFault(message.fault);
          break;
        case 'run-restored':
        case 'run-rewound':
          flushReports();
          get().receiveRuns(message);
          break;
        case 'runs':
        case 'checkpoint':
        case 'model-loaded':
          get().receiveRuns(message);
          break;
        case 'run-info':
          set({ runInfo: message.info });
          break;
        case 'matmul-rate':
          set({ matmulRate: message.flopsPerSec });
          break;
        case 'export-progress':
        case 'export':
          get().receiveExport(message);
          break;
        case 'augment-preview': {
          const { pixels, count, imageSize, channels } = message;
          get().receiveAugmentPreview({ pixels, count, imageSize, channels });
          break;
        }
        case 'probe':
        case 'baselines':
        case 'umap-progress':
        case 'snapshot':
        case 'neighbours':
          get().receiveMonitor(message);
          break;
        case 'dataset':
          get().receiveDataset(message.dataset);
          break;
        case 'import-progress':
        case 'import-done':
        case 'import-cancelled':
        case 'cache-cleared':
          get().receiveImport(message);
          break;
        case 'explore-progress':
        case 'explore-result':
        case 'explore-cancelled':
        case 'explore-search-result':
          get().receiveExplore(message);
          break;
        case 'self-test-progress':
        case 'self-test-result':
          get().receiveSelfTest(message);
          break;
        case 'storage':
          get().receiveStorage(message);
          break;
        case 'error': {
          // Input handed over a moment before the worker got busy (a run that had just started) waits again, unsaid.
          if (message.code === 'busy' && message.request && get().requeueRefused(message.request)) break;
          const problem = { code: message.code, message: message.message, recoverable: message.recoverable };
          set(message.code === 'no-backend' ? { phase: 'failed', problem } : { problem });
          // A refused or failed request leaves no spinner behind: every slice settles its own pending state.
          if (message.request) get().settleFailedRequest(message.request);
          break;
        }
        default: {
          const never: never = message;
          throw new Error(`unhandled worker message ${JSON.stringify(never)}`);
        }
      }
    }
    flushReports();
    // Whatever these messages finished (the trainer ready, an import done, a run ended) may let waiting input in.
    get().takePendingInput();
    notifyWorkerMessages(messages);
  },
});
