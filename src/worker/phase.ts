// What the trainer is doing, as one value, and which request it takes in which phase: the one place a request is
// refused for arriving at the wrong time.
import { TrainerError } from './errors';
import type { ToWorker, TrainerState } from './protocol';

export type Phase =
  /** No backend yet: init has not run, or is running. */
  | 'starting'
  /** Nothing in flight. A finished run or a loaded model may be open for maps, neighbours and downloads. */
  | 'ready'
  /** An import or the sample set is loading: the images are about to change. */
  | 'loading-images'
  /** A saved run or a model zip is being opened: until it is in place, nothing else may change the run or the images. */
  | 'opening'
  | 'compiling'
  | 'training'
  | 'paused'
  /** A stop has been asked for; the step in flight finishes and the run's checkpoint is written. */
  | 'stopping'
  /** The self-test switches tfjs to the CPU backend for a moment: nothing else may touch the GPU's tensors. */
  | 'self-testing';

/** A run that is compiling, training, paused or being stopped. */
export const RUN_PHASES: readonly Phase[] = ['compiling', 'training', 'paused', 'stopping'];

/** Every phase but starting and the self-test: requests that use the images or the model beside whatever runs. */
const BESIDE: readonly Phase[] = ['ready', 'loading-images', 'opening', 'compiling', 'training', 'paused', 'stopping'];
const ANY: readonly Phase[] = [...BESIDE, 'starting', 'self-testing'];

interface RequestRule {
  /** The phases the request is taken in. */
  phases: readonly Phase[];
  /** What it does, for a refusal: "stop training before <doing>". */
  doing: string;
}

export const REQUESTS: Record<ToWorker['type'], RequestRule> = {
  init: { phases: ['starting'], doing: 'starting the trainer again' },
  'set-dataset': { phases: ['ready'], doing: 'loading other images' },
  'load-sample': { phases: ['ready'], doing: 'loading other images' },
  import: { phases: ['ready'], doing: 'loading other images' },
  'cancel-import': { phases: ANY, doing: 'cancelling an import' },
  'clear-cache': { phases: ANY, doing: 'clearing the image cache' },
  start: { phases: ['ready'], doing: 'starting another run' },
  'list-runs': { phases: ANY, doing: 'listing the saved runs' },
  'resume-run': { phases: ['ready'], doing: 'opening a saved run' },
  'delete-run': { phases: ANY, doing: 'deleting a saved run' },
  'load-model': { phases: ['ready'], doing: 'loading a model' },
  'forget-model': { phases: BESIDE.filter((p) => p !== 'opening'), doing: 'forgetting the loaded model' },
  pause: { phases: ['compiling', 'training'], doing: 'pausing' },
  resume: { phases: ['paused'], doing: 'resuming' },
  stop: { phases: ['compiling', 'training', 'paused'], doing: 'stopping' },
  'self-test': { phases: ['ready'], doing: 'running the self-test' },
  'preview-augment': { phases: BESIDE, doing: 'previewing the augmentation' },
  'export-model': { phases: BESIDE, doing: 'downloading the model' },
  'export-embeddings': { phases: BESIDE, doing: 'downloading the embeddings' },
  'umap-snapshot': { phases: BESIDE, doing: 'mapping with UMAP' },
  neighbours: { phases: BESIDE, doing: 'finding neighbours' },
  'measure-matmul': { phases: ['ready'], doing: 'measuring the matmul rate' },
  explore: { phases: BESIDE, doing: 'exploring the images' },
  'cancel-explore': { phases: ANY, doing: 'cancelling the exploration' },
  'explore-search': { phases: BESIDE, doing: 'searching by image' },
};

/** What is in the way in each phase, as the start of a refusal. */
const IN_THE_WAY: Record<Phase, string> = {
  starting: 'the trainer is still starting its GPU backend: wait a moment',
  ready: '',
  'loading-images': 'wait until the images are loaded',
  opening: 'wait until the saved run or the model is loaded',
  compiling: 'stop training',
  training: 'stop training',
  paused: 'stop training',
  stopping: 'wait until the run has stopped',
  'self-testing': 'wait for the self-test to finish',
};

/** Why `request` cannot be taken in `phase`, as the error to report; null when it can. */
export function refusal(request: ToWorker['type'], phase: Phase): TrainerError | null {
  const rule = REQUESTS[request];
  if (rule.phases.includes(phase)) return null;
  // Controls of a run that is not there: the page's buttons are out of date, nothing is busy.
  if (phase === 'ready' && (request === 'pause' || request === 'resume' || request === 'stop')) {
    return new TrainerError('no-run', `there is no ${request === 'resume' ? 'paused ' : ''}training to ${request}`);
  }
  if (request === 'init') return new TrainerError('busy', 'the trainer has already started');
  if (request === 'resume') return new TrainerError('no-run', 'there is no paused training to resume');
  return new TrainerError('busy', `${IN_THE_WAY[phase]} before ${rule.doing}`);
}

/** The run's state as the page shows it. */
export function runStateOf(phase: Phase, hasRun: boolean): TrainerState {
  switch (phase) {
    case 'compiling':
    case 'training':
    case 'paused':
      return phase;
    case 'stopping':
      return 'stopped';
    default:
      return hasRun ? 'stopped' : 'idle';
  }
}
