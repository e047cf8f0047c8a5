// Input the trainer cannot take yet: images (a folder, files, the sample set) or a model zip chosen while the trainer
// starts, while images or a run are loading, or while a run trains. Nothing is refused for its timing: a selection is
// kept here, the page says what it waits for, and it is handed to the worker as soon as the worker can take it.
//
// What waits, and for what:
// - the trainer starting, images loading, a saved run or a model opening, the self-test: taken when that is done;
// - another import under way: a newer choice of images replaces it (the import is cancelled and the page says so);
// - a run (compiling, training, paused): the person decides: stop the run and switch now, switch when the run ends
//   (finishes or is stopped), or discard. Until they decide, the selection waits, and it is taken if the run ends.
import type { StateCreator } from 'zustand';
import { describeSelection } from '../data/collect';
import type { ImportFile } from '../data/importer';
import type { ToWorker } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

/** Images chosen by the person: their files (a folder or loose images), or the built-in sample set. */
export type ImageChoice = { kind: 'files'; files: ImportFile[]; name: string } | { kind: 'sample'; name: string };

/** What a waiting selection does about a run that is under way. */
export type RunDecision = 'undecided' | 'stop-now' | 'after-run';

export interface Waiting<T> {
  choice: T;
  decision: RunDecision;
  /** When it was chosen (ms since the epoch), so that the page can say how long it has waited. */
  at: number;
}

/** Why the trainer cannot take new input at this moment; null when it can. */
export type WaitReason =
  | 'starting'
  | 'no-trainer'
  | 'importing'
  | 'loading-sample'
  | 'opening-run'
  | 'loading-model'
  | 'self-test'
  | 'run';

/** The part of the store the reason is read from. */
export type WaitView = Pick<Store, 'phase' | 'trainerState' | 'datasetLoading' | 'importState' | 'resuming' | 'loadingModel' | 'selfTest'>;

/**
 * Why input must wait now, from what the page knows of the worker. The worker reports a run's end only when it is
 * ready again (a stop's checkpoint is written before 'stopped' is sent), so 'stopped' means the images can change.
 */
export function waitReason(s: WaitView): WaitReason | null {
  if (s.phase === 'disconnected' || s.phase === 'starting') return 'starting';
  if (s.phase === 'failed') return 'no-trainer';
  if (s.trainerState === 'compiling' || s.trainerState === 'training' || s.trainerState === 'paused') return 'run';
  if (s.importState?.status === 'running') return 'importing';
  if (s.datasetLoading) return 'loading-sample';
  if (s.resuming !== null) return 'opening-run';
  if (s.loadingModel !== null) return 'loading-model';
  if (s.selfTest.status === 'running') return 'self-test';
  return null;
}

/** Whether a dropped file is a model zip ("Download weights"), not an image. */
export function isModelZip(file: File): boolean {
  return /\.zip$/i.test(file.name) || file.type === 'application/zip' || file.type === 'application/x-zip-compressed';
}

/** The requests that take waiting input: a refusal of one of them for timing puts its selection back to wait. */
const INPUT_REQUESTS = new Set<ToWorker['type']>(['import', 'load-sample', 'load-model']);

export interface PendingSlice {
  /** Images chosen that the trainer has not taken yet. */
  pendingImages: Waiting<ImageChoice> | null;
  /** A model zip chosen that the trainer has not taken yet. */
  pendingModel: Waiting<File> | null;
  /** What the last choice replaced or could not be: said once on the page, next to the images. */
  choiceNote: string | null;
  /** Images chosen (dropped, picked, or the sample set): imported now, or as soon as the trainer can. */
  chooseImages(files: ImportFile[]): void;
  chooseSample(): void;
  /** A model zip chosen: loaded now, or as soon as the trainer can. */
  chooseModel(file: File): void;
  /** What a waiting selection does about the run under way; 'discard' forgets it. */
  decidePending(which: 'images' | 'model', decision: Exclude<RunDecision, 'undecided'> | 'discard'): void;
  /** Hands the waiting input to the worker if it can take it now (called after every batch of worker messages). */
  takePendingInput(): void;
  /** A request refused for its timing: true (and the selection waits again) when it carried waiting input. */
  requeueRefused(request: ToWorker['type']): boolean;
  /** The worker has begun to take what it was handed (an import's progress, the images, the model): it no longer waits. */
  inputTaken(which: 'images' | 'model'): void;
  /** What was handed to the worker and not yet answered: it waits again if the worker refuses it or is replaced. */
  sentInput: { images: Waiting<ImageChoice> | null; model: Waiting<File> | null };
  /** An import cancelled to make way for newer images, so that the cancel is asked once. */
  cancellingImport: boolean;
}

export const pendingLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    // A replaced trainer never answers: what it was given waits for the next one, unless newer input replaced it.
    const { pendingImages, pendingModel, sentInput } = get();
    set({ pendingImages: pendingImages ?? sentInput.images, pendingModel: pendingModel ?? sentInput.model, sentInput: { images: null, model: null }, cancellingImport: false });
  },
  onRequestFailed(request) {
    // Failed for another reason than timing (corrupt zip, no usable image): the page says why; nothing is retried.
    if (request === 'import' || request === 'load-sample') get().inputTaken('images');
    if (request === 'load-model') get().inputTaken('model');
  },
});

/** The selection's name with its size: "photos (120 files)", or "3 files" for loose files. */
function describeFiles(files: ImportFile[]): string {
  const name = describeSelection(files);
  const count = files.length === 1 ? '1 file' : `${files.length} files`;
  return name === count ? name : `${name} (${count})`;
}

export const createPendingSlice: StateCreator<Store, [], [], PendingSlice> = (set, get) => ({
  pendingImages: null,
  pendingModel: null,
  choiceNote: null,
  sentInput: { images: null, model: null },
  cancellingImport: false,

  chooseImages(files) {
    if (!files.length) {
      // A folder with nothing in it (or a picker that gave nothing) is said, not ignored.
      set({ choiceNote: 'The chosen folder has no files in it: nothing to import.' });
      return;
    }
    choose(get, set, { kind: 'files', files, name: describeFiles(files) });
  },

  chooseSample() {
    choose(get, set, { kind: 'sample', name: 'the sample images' });
  },

  chooseModel(file) {
    const replaced = get().pendingModel;
    set({ pendingModel: { choice: file, decision: 'undecided', at: Date.now() }, choiceNote: replaced ? `${replaced.choice.name} was waiting; ${file.name} replaces it.` : null });
    get().takePendingInput();
  },

  decidePending(which, decision) {
    const key = which === 'images' ? 'pendingImages' : 'pendingModel';
    const waiting = get()[key];
    if (!waiting) return;
    if (decision === 'discard') {
      set({ [key]: null } as Partial<Store>);
      return;
    }
    set({ [key]: { ...waiting, decision } } as Partial<Store>);
    const active = get().trainerState;
    if (decision === 'stop-now' && (active === 'compiling' || active === 'training' || active === 'paused')) get().stopTraining();
    get().takePendingInput();
  },

  takePendingInput() {
    const { pendingImages, pendingModel, connection } = get();
    if (!pendingImages && !pendingModel) return;
    if (!connection) return;
    const reason = waitReason(get());
    if (reason === 'importing' && pendingImages && get().importState?.status === 'running') {
      // Newer images replace an import under way: it is cancelled, and they are taken once it has stopped.
      if (!get().cancellingImport) {
        set({ cancellingImport: true });
        get().cancelImport();
      }
      return;
    }
    if (reason !== null) return;
    set({ cancellingImport: false });
    // A model first: it sets the size the images are read at, and it maps whatever images come after it.
    if (pendingModel) {
      set({ pendingModel: null, sentInput: { ...get().sentInput, model: pendingModel } });
      void get().loadModel(pendingModel.choice);
      return;
    }
    if (pendingImages) {
      set({ pendingImages: null, sentInput: { ...get().sentInput, images: pendingImages } });
      const { choice } = pendingImages;
      if (choice.kind === 'sample') get().loadSampleSet();
      else get().importFiles(choice.files);
    }
  },

  requeueRefused(request) {
    if (!INPUT_REQUESTS.has(request)) return false;
    const { sentInput } = get();
    if (request === 'load-model') {
      if (!sentInput.model) return false;
      set({ loadingModel: null, pendingModel: get().pendingModel ?? sentInput.model });
      get().inputTaken('model');
      return true;
    }
    if (!sentInput.images) return false;
    const running = get().importState;
    set({
      datasetLoading: false,
      pendingImages: get().pendingImages ?? sentInput.images,
      // The import the page announced never began: it waits instead, and the panel says so.
      importState: running?.status === 'running' ? null : running,
    });
    get().inputTaken('images');
    return true;
  },

  inputTaken(which) {
    if (get().sentInput[which]) set({ sentInput: { ...get().sentInput, [which]: null } });
  },
});

function choose(get: () => Store, set: (partial: Partial<Store>) => void, choice: ImageChoice): void {
  const before = get().pendingImages;
  const importing = get().importState?.status === 'running' ? get().importState!.name : null;
  const replaced = before ? before.choice.name : importing;
  set({ pendingImages: { choice, decision: 'undecided', at: Date.now() }, choiceNote: replaced ? `${choice.name} replaces ${replaced}${before ? ', which was waiting' : ', whose import is cancelled'}.` : null });
  get().takePendingInput();
}
