// The trainer session: which backend the worker got, its state, and what went wrong.
import type { StateCreator } from 'zustand';
import { connectTrainer, type TrainerConnection } from '../worker/client';
import type { BackendPreference, BackendReport, ErrorCode, FromWorker, KnownResultCheck, RunInfo, StepReport, TestHooks, ToWorker, TrainerState } from '../worker/protocol';
import { notifyWorkerMessages } from './automation';
import { metricsHistory } from './metricsHistory';
import type { Store } from './store';

export interface TrainerProblem {
  code: ErrorCode | 'worker-crashed';
  message: string;
  recoverable: boolean;
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
  connect(preference?: BackendPreference, hooks?: TestHooks): void;
  send(message: ToWorker, transfer?: Transferable[]): void;
  dismissProblem(): void;
  /** Applies a frame's worth of worker messages. */
  receive(messages: FromWorker[]): void;
}

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

  connect(preference = 'auto', hooks = {}) {
    if (get().connection) return;
    const connection = connectTrainer(
      (messages) => get().receive(messages),
      (message) => set({ phase: 'failed', problem: { code: 'worker-crashed', message: `The trainer stopped: ${message}`, recoverable: false } }),
    );
    set({ connection, phase: 'starting' });
    connection.send({ type: 'init', backend: preference, hooks });
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
    /** A refused or failed request leaves no spinner behind: its own pending state is cleared. */
    const settleFailedRequest = (request: ToWorker['type'] | null) => {
      switch (request) {
        case 'load-sample':
          set({ datasetLoading: false });
          break;
        case 'import': {
          const running = get().importState;
          if (running?.status === 'running') set({ importState: { ...running, status: 'cancelled' } });
          break;
        }
        case 'umap-snapshot':
          set({ umapProgress: null });
          break;
        case 'neighbours':
          set({ neighbourQuery: null, neighbours: null });
          break;
        case 'export-model':
        case 'export-embeddings':
          get().settleExport();
          break;
        case 'resume-run':
          set({ resuming: null });
          break;
        case 'load-model':
          set({ loadingModel: null });
          break;
        case 'self-test':
          get().receiveSelfTest({ type: 'error', message: get().problem?.message ?? 'the self-test failed' });
          break;
        default:
          break;
      }
    };
    // A frame's step metrics go into the history in one batch: charts redraw once.
    const reports: StepReport[] = [];
    for (const message of messages) {
      switch (message.type) {
        case 'ready':
          set({ phase: 'ready', backend: message.backend, knownResult: message.check });
          // First open: the built-in sample images, so that Start works with no folder at all.
          if (!get().dataset) get().loadSampleSet();
          // Saved runs, so that a reopened page can offer to resume the last one.
          get().send({ type: 'list-runs' });
          break;
        case 'state':
          set({ trainerState: message.state, step: message.step });
          break;
        case 'metrics':
          reports.push(message.report);
          break;
        case 'runs':
        case 'checkpoint':
        case 'run-restored':
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
        case 'self-test-progress':
        case 'self-test-result':
          get().receiveSelfTest(message);
          break;
        case 'error': {
          const problem = { code: message.code, message: message.message, recoverable: message.recoverable };
          set(message.code === 'no-backend' ? { phase: 'failed', problem } : { problem });
          settleFailedRequest(message.request);
          break;
        }
        default: {
          const never: never = message;
          throw new Error(`unhandled worker message ${JSON.stringify(never)}`);
        }
      }
    }
    if (reports.length) {
      metricsHistory.pushMany(reports);
      get().receiveMetrics(reports.at(-1)!);
    }
    notifyWorkerMessages(messages);
  },
});
