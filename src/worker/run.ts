// A training run as the trainer holds it, and the one function that builds one: for a new run, for a model loaded from
// a zip, and for a run restored from its checkpoint.
import { EpochSampler, type SamplerState } from '../engine/batches';
import type { TrainConfig } from '../engine/config';
import type { StateTensor } from '../engine/optim';
import { Random } from '../engine/random';
import { restoreTrainState, writeWeights, type SavedTrainState } from '../engine/savedState';
import { createTrainState, disposeTrainState, type TrainState } from '../engine/step';
import type { CheckpointState, DatasetIdentity, RunHistory } from '../export/checkpoints';
import { RunMonitor } from './monitor';
import type { DatasetPayload, MonitorSettings } from './protocol';
import type { UntrainedEncoder } from './untrained';

/** A state the run can go back to: its training state, its sampler, and how many steps of its history it had then. */
export interface GoodState {
  trainState: SavedTrainState;
  sampler: SamplerState;
  steps: number;
}

export interface Run {
  /** The run's key among the saved runs. */
  id: string;
  name: string;
  createdAt: number;
  state: TrainState;
  sampler: EpochSampler;
  totalSteps: number;
  monitor: RunMonitor;
  /** Steps between checkpoints; 0: no checkpoints. */
  checkpointEvery: number;
  /** What the page draws, kept for the checkpoint. */
  history: RunHistory;
  /** The images' identity, worked out at the first checkpoint. */
  identity: DatasetIdentity | null;
  /** The step of the last checkpoint written, so that a pause right after one writes nothing new. */
  savedStep: number;
  /** Whether a checkpoint of this run is in IndexedDB: only then can a restarted trainer resume it. */
  checkpointed: boolean;
  /** The last state known good (the last checkpoint, or the start), where a diverged step or a GPU error sends the run back. */
  lastGood: GoodState | null;
  /** A new run's encoder as it started, until its map and baselines are measured beside the first steps. */
  untrained: UntrainedEncoder | null;
  dispose(): void;
}

export interface RunPlan {
  name: string;
  config: TrainConfig;
  dataset: DatasetPayload;
  monitor: MonitorSettings;
  totalSteps: number;
  checkpointEvery: number;
  /** Weights to start from (a loaded model's encoder and heads); the others keep their initial values. */
  weights?: StateTensor[];
  /** The step the weights were trained to (a loaded model). */
  step?: number;
  /** A checkpoint to continue from, with the saved run's id and creation time. */
  checkpoint?: { state: CheckpointState; id: string; createdAt: number };
}

/**
 * A run on `dataset`: its training state (fresh, from given weights, or restored from a checkpoint), sampler and
 * monitor. A checkpoint that does not fit the config throws, and nothing is left allocated.
 */
export function buildRun(plan: RunPlan): Run {
  const { config, dataset, checkpoint } = plan;
  // Everything that can refuse the data comes before the model, so a refusal leaks nothing.
  const sampler = new EpochSampler(dataset.count, config.batchSize, new Random(config.seed));
  const monitor = new RunMonitor(dataset, { ...plan.monitor, probeCount: Math.min(plan.monitor.probeCount, dataset.count) }, config.batchSize, config.seed);
  const state = createTrainState(config);
  try {
    if (plan.weights) writeWeights(state.model, plan.weights, { partial: true });
    if (plan.step !== undefined) state.step = plan.step;
    if (checkpoint) {
      restoreTrainState(state, checkpoint.state.trainState);
      sampler.setState(checkpoint.state.sampler);
    }
  } catch (e) {
    disposeTrainState(state);
    throw e;
  }
  return {
    id: checkpoint?.id ?? crypto.randomUUID(),
    name: plan.name,
    createdAt: checkpoint?.createdAt ?? Date.now(),
    state,
    sampler,
    totalSteps: plan.totalSteps,
    monitor,
    checkpointEvery: plan.checkpointEvery,
    history: checkpoint?.state.history ?? { steps: [], snapshots: [], baselines: null },
    identity: checkpoint?.state.dataset ?? null,
    savedStep: state.step,
    checkpointed: checkpoint !== undefined,
    lastGood: null,
    untrained: null,
    dispose() {
      this.untrained?.cancel();
      disposeTrainState(this.state);
    },
  };
}
