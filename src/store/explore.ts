// The Explore panel's state: what to explore (representation, groups, neighbours), the worker's answer for the whole
// folder, the near-duplicate threshold, the selection made on the map or from the lists, a search by image, and
// the person's original files (for "Sort into folders"), kept on the page from the moment they are chosen.
import type { StateCreator } from 'zustand';
import { decodeToSquare } from '../data/decode';
import { toSingleChannel } from '../data/files';
import type { ImportFile } from '../data/importer';
import { saveFile, zipFiles } from '../export/download';
import { pathList } from '../export/csv';
import { sortIntoFolders, type SortedFile } from '../export/folders';
import { exploreTableFiles } from '../export/table';
import type { ExploreProgress, ExploreResult, FromWorker, Representation } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

type ExploreMessage = Extract<FromWorker, { type: 'explore-progress' | 'explore-result' | 'explore-cancelled' | 'explore-search-result' }>;

export type SelectionMode = 'replace' | 'add' | 'remove';

export interface SearchState {
  /** The query's pixels at the set's size, for its thumbnail. */
  pixels: Uint8Array;
  name: string;
  /** Null while the worker searches. */
  answer: { step: number; representation: Representation; neighbours: { index: number; similarity: number }[] } | null;
}

export interface ExploreSlice {
  exploreSettings: { representation: Representation; k: number | null; neighbours: number };
  /** The exploration under way, with its progress; null when none is. */
  exploring: ExploreProgress | { stage: 'starting' } | null;
  explored: ExploreResult | null;
  duplicateThreshold: number;
  /** Selected images (data-set indices), ascending. */
  selection: number[];
  search: SearchState | null;
  /** Why the last image given to search with was not searched for (not an image, or unreadable); the search before stays. */
  searchNotice: string | null;
  /** Original files by path, as chosen for the last import; empty for the sample set. */
  originals: Map<string, Blob>;
  sortStatus: string | null;
  /** Why the last exploration stopped before its end ("cancelled", or other images loaded meanwhile); null after a start. */
  exploreNotice: string | null;
  setExploreSettings(change: Partial<ExploreSlice['exploreSettings']>): void;
  startExplore(): void;
  cancelExplore(): void;
  setDuplicateThreshold(threshold: number): void;
  select(indices: number[], mode: SelectionMode): void;
  clearSelection(): void;
  searchByImage(file: Blob, name: string): Promise<void>;
  /** Something dropped or pasted that is not an image to search with: says so, and leaves the search as it was. */
  refuseSearch(message: string): void;
  clearSearch(): void;
  keepOriginals(files: ImportFile[]): void;
  downloadTable(): void;
  downloadSelection(): void;
  sortIntoFolders(target: 'zip' | 'folder'): Promise<void>;
  resetExplore(): void;
  receiveExplore(message: ExploreMessage): void;
}

export const exploreLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    get().resetExplore();
  },
  onRequestFailed(request) {
    if (request === 'explore') set({ exploring: null });
    if (request === 'explore-search') set({ search: null });
  },
});

/** Default cosine similarity above which two images count as near-duplicates. */
export const DEFAULT_DUPLICATE_THRESHOLD = 0.95;

/** The folder name a group's images are sorted into. */
export const groupFolder = (group: number) => `group ${String(group + 1).padStart(2, '0')}`;

function sorted(set: Set<number>): number[] {
  return [...set].sort((a, b) => a - b);
}

/** The File System Access API's folder picker, where the browser has one. */
type DirectoryHandle = {
  getDirectoryHandle(name: string, options: { create: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options: { create: boolean }): Promise<{ createWritable(): Promise<{ write(data: Blob): Promise<void>; close(): Promise<void> }> }>;
};
export function folderPicker(): (() => Promise<DirectoryHandle>) | null {
  const picker = (globalThis as { showDirectoryPicker?: (options?: { mode?: string }) => Promise<DirectoryHandle> }).showDirectoryPicker;
  return picker ? () => picker.call(globalThis, { mode: 'readwrite' }) : null;
}

/** A new folder `name` in `parent` (" (2)", " (3)" … when the name is taken): sorting never writes over a person's files. */
async function freshFolder(parent: DirectoryHandle, name: string): Promise<{ handle: DirectoryHandle; name: string }> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${name} (${n})`;
    try {
      await parent.getDirectoryHandle(candidate, { create: false });
    } catch (e) {
      if ((e as DOMException).name !== 'NotFoundError') throw e;
      return { handle: await parent.getDirectoryHandle(candidate, { create: true }), name: candidate };
    }
  }
}

/** Writes the files; returns how many were written before a failure (and the failure), or all of them. */
async function writeIntoFolder(root: DirectoryHandle, files: SortedFile[]): Promise<{ written: number; error: Error | null }> {
  const folders = new Map<string, DirectoryHandle>();
  let written = 0;
  try {
    for (const { path, file } of files) {
      const [folder, name] = path.split('/') as [string, string];
      let handle = folders.get(folder);
      if (!handle) folders.set(folder, (handle = await root.getDirectoryHandle(folder, { create: true })));
      const writable = await (await handle.getFileHandle(name, { create: true })).createWritable();
      await writable.write(file);
      await writable.close();
      written += 1;
    }
    return { written, error: null };
  } catch (e) {
    return { written, error: e as Error };
  }
}

export const createExploreSlice: StateCreator<Store, [], [], ExploreSlice> = (set, get) => ({
  exploreSettings: { representation: 'trained', k: null, neighbours: 10 },
  exploring: null,
  explored: null,
  duplicateThreshold: DEFAULT_DUPLICATE_THRESHOLD,
  selection: [],
  search: null,
  searchNotice: null,
  originals: new Map(),
  sortStatus: null,
  exploreNotice: null,

  setExploreSettings(change) {
    set({ exploreSettings: { ...get().exploreSettings, ...change } });
  },

  startExplore() {
    set({ exploring: { stage: 'starting' }, exploreNotice: null });
    get().send({ type: 'explore', request: get().exploreSettings });
  },

  cancelExplore() {
    get().send({ type: 'cancel-explore' });
  },

  setDuplicateThreshold(duplicateThreshold) {
    set({ duplicateThreshold });
  },

  select(indices, mode) {
    const next = new Set(mode === 'replace' ? [] : get().selection);
    for (const i of indices) {
      if (mode === 'remove') next.delete(i);
      else next.add(i);
    }
    set({ selection: sorted(next) });
  },

  clearSelection() {
    set({ selection: [] });
  },

  async searchByImage(file, name) {
    const dataset = get().dataset;
    if (!dataset) return;
    let pixels: Uint8Array;
    try {
      // Decoded and resized exactly as the import did the set's images.
      const rgb = await decodeToSquare(file, dataset.imageSize);
      pixels = dataset.channels === 1 ? toSingleChannel(rgb) : rgb;
    } catch (e) {
      get().refuseSearch(`${name} could not be read as an image (${(e as Error).message}).`);
      return;
    }
    set({ search: { pixels, name, answer: null }, searchNotice: null });
    get().send({ type: 'explore-search', pixels: pixels.slice(), k: 12 });
  },

  refuseSearch(message) {
    const before = get().search;
    set({ searchNotice: `${message} ${before ? `The search for ${before.name} stays.` : 'Nothing was searched for.'}` });
  },

  clearSearch() {
    set({ search: null, searchNotice: null });
  },

  keepOriginals(files) {
    set({ originals: new Map(files.map((f) => [f.path, f.file])) });
  },

  downloadTable() {
    const result = get().explored;
    if (!result) return;
    saveFile(zipFiles(exploreTableFiles(result, get().duplicateThreshold, get().selection)), `tabclr-explore-${result.representation}-step${result.step}.zip`);
  },

  downloadSelection() {
    const result = get().explored;
    if (!result) return;
    saveFile(new TextEncoder().encode(pathList(get().selection.map((i) => result.names[i]!))), 'selection.txt', 'text/plain');
  },

  async sortIntoFolders(target) {
    const result = get().explored;
    if (!result) return;
    const { files, missing } = sortIntoFolders(result.names, result.groups, get().originals, groupFolder);
    if (files.length === 0) {
      set({ sortStatus: 'The original files are not in this page (the sample set, or a run opened after a reload): choose the folder again to sort it.' });
      return;
    }
    const note = missing.length ? ` ${missing.length} images had no original file here and were left out.` : '';
    const name = `tabclr-groups-${result.representation}-k${result.k}`;
    if (target === 'folder') {
      const pick = folderPicker();
      if (!pick) return;
      let root: DirectoryHandle;
      try {
        root = await pick();
      } catch (e) {
        const error = e as DOMException;
        set({
          sortStatus:
            error.name === 'AbortError'
              ? 'No folder was chosen: nothing was written.'
              : `The browser did not let the page write there (${error.name}: ${error.message}): nothing was written. “Sort into folders (.zip)” saves the same folders as a zip.`,
        });
        return;
      }
      set({ sortStatus: `Writing ${files.length} files…` });
      let folder: { handle: DirectoryHandle; name: string };
      try {
        folder = await freshFolder(root, name);
      } catch (e) {
        set({ sortStatus: `No folder could be made there (${(e as Error).message}): nothing was written.` });
        return;
      }
      const { written, error } = await writeIntoFolder(folder.handle, files);
      set({
        sortStatus: error
          ? `Writing stopped after ${written} of ${files.length} files (${error.message}); those are in ${folder.name}. Your original files are untouched.`
          : `Wrote ${files.length} files into ${folder.name}, in ${result.k} group folders, inside the folder you chose.${note}`,
      });
      return;
    }
    set({ sortStatus: `Zipping ${files.length} files…` });
    const entries = await Promise.all(files.map(async (f) => ({ name: f.path, bytes: new Uint8Array(await f.file.arrayBuffer()) })));
    const fileName = `${name}.zip`;
    saveFile(zipFiles(entries), fileName);
    set({ sortStatus: `Saved ${fileName}: ${files.length} files in ${result.k} group folders.${note}` });
  },

  // The notice stays: other images dropped mid-exploration cancel it and then arrive, and the person should read why.
  resetExplore() {
    set({ exploring: null, explored: null, selection: [], search: null, searchNotice: null, sortStatus: null });
  },

  receiveExplore(message) {
    switch (message.type) {
      case 'explore-progress':
        set({ exploring: message.progress });
        break;
      case 'explore-result':
        // A selection made on the same images stays; on a result for other images it would point at the wrong ones.
        set({ exploring: null, explored: message.result, selection: get().explored?.count === message.result.count ? get().selection : [] });
        break;
      case 'explore-cancelled':
        set({ exploring: null, exploreNotice: message.reason === 'cancelled' ? 'Exploring cancelled.' : `Exploring stopped: ${message.reason}.` });
        break;
      case 'explore-search-result': {
        const search = get().search;
        if (search) set({ search: { ...search, answer: { step: message.step, representation: message.representation, neighbours: message.neighbours } } });
        break;
      }
    }
  },
});
