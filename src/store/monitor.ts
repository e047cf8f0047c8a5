// What the run has learnt, as the page shows it: the probe images, embedding snapshots, kNN baselines and the
// nearest neighbours of a chosen image. Step metrics live outside React, in metricsHistory.
import type { StateCreator } from 'zustand';
import { type FromWorker, type MonitorSettings, type ProbeSet, type SnapshotReport } from '../worker/protocol';
import { metricsHistory } from './metricsHistory';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

type MonitorMessage = Extract<FromWorker, { type: 'probe' | 'baselines' | 'snapshot' | 'neighbours' | 'umap-progress' }>;

export interface NeighbourAnswer {
  position: number;
  step: number;
  neighbours: { position: number; similarity: number }[];
}

export interface MonitorSlice {
  monitorSettings: MonitorSettings;
  probe: ProbeSet | null;
  snapshots: SnapshotReport[];
  baselines: { randomInit: number; rawPixels: number } | null;
  /** Index into snapshots of the one the map shows; null follows the latest. */
  shownSnapshot: number | null;
  /** The probe image whose neighbours were asked for last, and the answer once it arrives. */
  neighbourQuery: number | null;
  neighbours: NeighbourAnswer | null;
  /** Progress of a UMAP snapshot being computed, null when none is. */
  umapProgress: number | null;
  requestUmap(): void;
  setMonitorSettings(change: Partial<MonitorSettings>): void;
  showSnapshot(index: number | null): void;
  requestNeighbours(position: number): void;
  resetMonitor(): void;
  receiveMonitor(message: MonitorMessage): void;
}

export const monitorLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    get().resetMonitor();
  },
  onRequestFailed(request) {
    if (request === 'umap-snapshot') set({ umapProgress: null });
    if (request === 'neighbours') set({ neighbourQuery: null, neighbours: null });
  },
});

/** Neighbours listed for a chosen image. */
export const NEIGHBOURS_SHOWN = 8;

export const createMonitorSlice: StateCreator<Store, [], [], MonitorSlice> = (set, get) => ({
  monitorSettings: { snapshotEvery: 25, probeCount: 500, profileSteps: false },
  probe: null,
  snapshots: [],
  baselines: null,
  shownSnapshot: null,
  neighbourQuery: null,
  neighbours: null,
  umapProgress: null,

  requestUmap() {
    set({ umapProgress: 0 });
    get().send({ type: 'umap-snapshot' });
  },

  setMonitorSettings(change) {
    set({ monitorSettings: { ...get().monitorSettings, ...change } });
    get().checkSettings();
  },

  showSnapshot(index) {
    set({ shownSnapshot: index });
  },

  requestNeighbours(position) {
    set({ neighbourQuery: position });
    get().send({ type: 'neighbours', position, k: NEIGHBOURS_SHOWN });
  },

  resetMonitor() {
    metricsHistory.clear();
    set({ probe: null, snapshots: [], baselines: null, shownSnapshot: null, neighbourQuery: null, neighbours: null, umapProgress: null });
  },

  receiveMonitor(message) {
    switch (message.type) {
      case 'probe':
        set({ probe: message.probe });
        break;
      case 'baselines':
        set({ baselines: { randomInit: message.randomInit, rawPixels: message.rawPixels } });
        metricsHistory.setBaselines({ randomInit: message.randomInit, rawPixels: message.rawPixels });
        break;
      case 'umap-progress':
        set({ umapProgress: message.epoch / message.epochs });
        break;
      case 'snapshot': {
        const { snapshot } = message;
        // In step order: a UMAP snapshot asked for between steps can arrive after later PCA ones.
        const snapshots = [...get().snapshots, snapshot].sort((a, b) => a.step - b.step);
        set({ snapshots, ...(snapshot.method === 'umap' ? { umapProgress: null, shownSnapshot: snapshots.indexOf(snapshot) } : {}) });
        // The kNN curve follows the regular snapshots only, which arrive in step order.
        if (snapshot.knnAccuracy !== null && snapshot.method === 'pca') metricsHistory.pushKnn(snapshot.step, snapshot.knnAccuracy);
        break;
      }
      case 'neighbours':
        if (message.position === get().neighbourQuery) {
          set({ neighbours: { position: message.position, step: message.step, neighbours: message.neighbours } });
        }
        break;
    }
  },
});
