// The images the trainer works on (the pixels stay in the worker; the page keeps a summary), and the import.
import type { StateCreator } from 'zustand';
import { describeSelection } from '../data/collect';
import type { ImportCounts, ImportFile, SkippedFile } from '../data/importer';
import { SAMPLE_SET_URL } from '../data/sample';
import type { DatasetSummary, FromWorker } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

export interface ImportState {
  status: 'running' | 'done' | 'cancelled';
  name: string;
  counts: ImportCounts;
  elapsedMs: number;
  skipped: SkippedFile[];
  cacheProblem: string | null;
}

type ImportMessage = Extract<FromWorker, { type: 'import-progress' | 'import-done' | 'import-cancelled' | 'cache-cleared' }>;

export interface DataSlice {
  dataset: DatasetSummary | null;
  datasetLoading: boolean;
  /** The training size images are decoded at. */
  importSize: number;
  importState: ImportState | null;
  cacheCleared: boolean;
  setImportSize(size: number): void;
  loadSampleSet(): void;
  importFiles(files: ImportFile[]): void;
  cancelImport(): void;
  clearCache(): void;
  receiveDataset(dataset: DatasetSummary | null): void;
  receiveImport(message: ImportMessage): void;
}

export const IMPORT_SIZES = [16, 24, 32, 48, 64, 96, 128] as const;

export const dataLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    set({ dataset: null, datasetLoading: false, importState: null });
  },
  onRequestFailed(request) {
    if (request === 'load-sample') set({ datasetLoading: false });
    if (request === 'import') {
      const running = get().importState;
      if (running?.status === 'running') set({ importState: { ...running, status: 'cancelled' } });
    }
  },
});

const noCounts: ImportCounts = { found: 0, processed: 0, decoded: 0, fromCache: 0, skipped: 0, duplicates: 0 };

export const createDataSlice: StateCreator<Store, [], [], DataSlice> = (set, get) => ({
  dataset: null,
  datasetLoading: false,
  importSize: 32,
  importState: null,
  cacheCleared: false,

  setImportSize(importSize) {
    set({ importSize });
  },

  loadSampleSet() {
    set({ datasetLoading: true, importState: null });
    get().keepOriginals([]);
    get().send({ type: 'load-sample', url: SAMPLE_SET_URL });
  },

  importFiles(files) {
    const name = describeSelection(files);
    get().keepOriginals(files);
    set({ importState: { status: 'running', name, counts: { ...noCounts, found: files.length }, elapsedMs: 0, skipped: [], cacheProblem: null }, cacheCleared: false });
    get().send({ type: 'import', files, imageSize: get().importSize, name });
  },

  cancelImport() {
    get().send({ type: 'cancel-import' });
  },

  clearCache() {
    get().send({ type: 'clear-cache' });
  },

  receiveDataset(dataset) {
    set({ dataset, datasetLoading: false });
    get().inputTaken('images');
    // The worker retires the previous run with its images: its map, curves and downloads go too, and its last step, so
    // that nothing offers to explore or download a run the worker no longer holds (a restored run's comes after this).
    set({ latest: null, runInfo: null });
    get().resetMonitor();
    get().resetExplore();
    if (dataset) get().adoptDefaults(dataset);
    else get().clearSettings();
  },

  receiveImport(message) {
    if (message.type !== 'cache-cleared') get().inputTaken('images');
    const current = get().importState;
    switch (message.type) {
      case 'import-progress':
        if (current) set({ importState: { ...current, counts: message.counts, elapsedMs: message.elapsedMs } });
        break;
      case 'import-done':
        if (current) set({ importState: { ...current, status: 'done', counts: message.counts, elapsedMs: message.elapsedMs, skipped: message.skipped, cacheProblem: message.cacheProblem } });
        break;
      case 'import-cancelled':
        if (current) set({ importState: { ...current, status: 'cancelled' } });
        break;
      case 'cache-cleared':
        set({ cacheCleared: true });
        break;
    }
  },
});
