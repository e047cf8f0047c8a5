// The images the trainer works on (the pixels stay in the worker; the page keeps a summary).
import type { StateCreator } from 'zustand';
import { SAMPLE_SET_URL } from '../data/sample';
import type { DatasetSummary } from '../worker/protocol';
import type { Store } from './store';

export interface DataSlice {
  dataset: DatasetSummary | null;
  datasetLoading: boolean;
  loadSampleSet(): void;
  receiveDataset(dataset: DatasetSummary): void;
}

export const createDataSlice: StateCreator<Store, [], [], DataSlice> = (set, get) => ({
  dataset: null,
  datasetLoading: false,

  loadSampleSet() {
    set({ datasetLoading: true });
    get().send({ type: 'load-sample', url: SAMPLE_SET_URL });
  },

  receiveDataset(dataset) {
    set({ dataset, datasetLoading: false });
    get().adoptDefaults(dataset);
  },
});
