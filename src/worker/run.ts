// A training run as the trainer holds it: its train state, sampler, monitor and what its checkpoint keeps.
import type { DatasetIdentity, RunHistory } from '../export/checkpoints';
import type { EpochSampler, SamplerState } from '../engine/batches';
import type { TrainStateSnapshot } from '../engine/snapshot';
import type { TrainState } from '../engine/step';
import type { RunMonitor } from './monitor';

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
  lastGood: { snapshot: TrainStateSnapshot; sampler: SamplerState; steps: number; snapshots: number } | null;
}

/**
 * A run around its train state. What differs between a new run, a loaded model and a restored checkpoint is given;
 * the rest starts empty: a new id, no history, no checkpoint yet.
 */
export function newRun(parts: Pick<Run, 'name' | 'state' | 'sampler' | 'totalSteps' | 'monitor' | 'checkpointEvery'> & Partial<Run>): Run {
  return {
    id: crypto.randomUUID(),
    createdAt: Date.now(),
    history: { steps: [], snapshots: [], baselines: null },
    identity: null,
    savedStep: parts.state.step,
    checkpointed: false,
    lastGood: null,
    ...parts,
  };
}
