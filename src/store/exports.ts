// Taking the work away: the trained weights and the embeddings, as zip files the browser saves.
import type { StateCreator } from 'zustand';
import { saveFile, zipFiles } from '../export/download';
import { exploreTableFiles } from '../export/table';
import type { FromWorker } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

type ExportMessage = Extract<FromWorker, { type: 'export-progress' | 'export' }>;

export interface ExportsSlice {
  includeHead: boolean;
  /** The export being prepared, with its progress; null when none is. */
  exporting: { kind: 'model' | 'embeddings'; done: number; total: number } | null;
  lastDownload: string | null;
  setIncludeHead(include: boolean): void;
  exportModel(): void;
  exportEmbeddings(): void;
  receiveExport(message: ExportMessage): void;
}

export const exportsLifecycle: LifecycleOf = (set) => ({
  onTrainerRestart() {
    set({ exporting: null });
  },
  onRequestFailed(request) {
    if (request === 'export-model' || request === 'export-embeddings') set({ exporting: null });
  },
});

export const createExportsSlice: StateCreator<Store, [], [], ExportsSlice> = (set, get) => ({
  includeHead: false,
  exporting: null,
  lastDownload: null,

  setIncludeHead(includeHead) {
    set({ includeHead });
  },

  exportModel() {
    set({ exporting: { kind: 'model', done: 0, total: 1 } });
    get().send({ type: 'export-model', includeHead: get().includeHead });
  },

  exportEmbeddings() {
    set({ exporting: { kind: 'embeddings', done: 0, total: get().dataset?.count ?? 1 } });
    get().send({ type: 'export-embeddings' });
  },

  receiveExport(message) {
    if (message.type === 'export-progress') {
      set({ exporting: { kind: message.kind, done: message.done, total: message.total } });
      return;
    }
    // The Explore panel's table goes beside the Projector files when it covers these images.
    const explored = get().explored;
    const table = message.kind === 'embeddings' && explored && explored.count === get().dataset?.count ? exploreTableFiles(explored, get().duplicateThreshold, get().selection) : [];
    saveFile(zipFiles([...message.files, ...table]), message.fileName);
    set({ exporting: null, lastDownload: message.fileName });
  },
});
