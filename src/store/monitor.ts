// What the run has learnt, as the page shows it: the probe images, embedding snapshots, kNN baselines and the
// nearest neighbours of a chosen image. Step metrics live outside React, in metricsHistory.
import type { StateCreator } from 'zustand';
import { type EvaluationBaselines, type FromWorker, type MonitorSettings, type ProbeSet, type SnapshotReport } from '../worker/protocol';
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
  /** kNN accuracy of the untrained encoder and of raw pixels, and the linear probe's when the run measured it. */
  baselines: (EvaluationBaselines & { probe: EvaluationBaselines | null }) | null;
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
  /** Forgets the chosen image: the map shows every image alike again. */
  clearNeighbours(): void;
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

  clearNeighbours() {
    set({ neighbourQuery: null, neighbours: null });
  },

  resetMonitor() {
    metricsHistory.clear();
    // The new run's baselines come once its untrained encoder is measured, beside its first steps.
    metricsHistory.setBaselines({ randomInit: null, rawPixels: null, probeRandomInit: null, probeRawPixels: null });
    set({ probe: null, snapshots: [], baselines: null, shownSnapshot: null, neighbourQuery: null, neighbours: null, umapProgress: null });
  },

  receiveMonitor(message) {
    switch (message.type) {
      case 'probe':
        set({ probe: message.probe });
        break;
      case 'baselines': {
        const probe = message.probe ?? null;
        set({ baselines: { randomInit: message.randomInit, rawPixels: message.rawPixels, probe } });
        metricsHistory.setBaselines({
          randomInit: message.randomInit,
          rawPixels: message.rawPixels,
          probeRandomInit: probe?.randomInit ?? null,
          probeRawPixels: probe?.rawPixels ?? null,
        });
        break;
      }
      case 'umap-progress':
        set({ umapProgress: message.epoch / message.epochs });
        break;
      case 'snapshot': {
        const { snapshot } = message;
        // In step order: a UMAP snapshot asked for between steps can arrive after later PCA ones, and the untrained
        // encoder's (step 0) is made beside the first steps, so it can arrive after theirs.
        const snapshots = [...get().snapshots, snapshot].sort((a, b) => a.step - b.step);
        const at = snapshots.indexOf(snapshot);
        const shown = get().shownSnapshot;
        // A snapshot replayed on the slider stays the one shown when an earlier one comes in before it.
        const shownSnapshot = snapshot.method === 'umap' ? at : shown !== null && at <= shown ? shown + 1 : shown;
        set({ snapshots, shownSnapshot, ...(snapshot.method === 'umap' ? { umapProgress: null } : {}) });
        // The kNN curve follows the regular snapshots only.
        if (snapshot.knnAccuracy !== null && snapshot.method === 'pca') metricsHistory.pushKnn(snapshot.step, snapshot.knnAccuracy, snapshot.probeAccuracy ?? NaN);
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
