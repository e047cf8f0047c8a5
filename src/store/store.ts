// One zustand store, built from slices; the worker connection feeds it.
import { create, type StateCreator } from 'zustand';
import type { ToWorker } from '../worker/protocol';
import { createDataSlice, dataLifecycle, type DataSlice } from './data';
import { createExploreSlice, exploreLifecycle, type ExploreSlice } from './explore';
import { createExportsSlice, exportsLifecycle, type ExportsSlice } from './exports';
import type { LifecycleOf } from './lifecycle';
import { createMonitorSlice, monitorLifecycle, type MonitorSlice } from './monitor';
import { createPendingSlice, pendingLifecycle, type PendingSlice } from './pending';
import { createRunsSlice, runsLifecycle, type RunsSlice } from './runs';
import { createSelfTestSlice, selfTestLifecycle, type SelfTestSlice } from './selfTest';
import { createSessionSlice, sessionLifecycle, type SessionSlice } from './session';
import { createStorageSlice, storageLifecycle, type StorageSlice } from './storage';
import { createTrainingSlice, trainingLifecycle, type TrainingSlice } from './training';

/** The store's own: every slice's lifecycle, run together. */
export interface StoreLifecycle {
  /** Every slice forgets what a replaced trainer held (src/store/lifecycle.ts). */
  forgetTrainer(): void;
  /** Every slice settles its pending state for a request the worker refused or failed. */
  settleFailedRequest(request: ToWorker['type']): void;
}

export type Store = SessionSlice & SelfTestSlice & DataSlice & PendingSlice & TrainingSlice & MonitorSlice & ExportsSlice & ExploreSlice & RunsSlice & StorageSlice & StoreLifecycle;

const SLICES = {
  session: createSessionSlice,
  selfTest: createSelfTestSlice,
  data: createDataSlice,
  pending: createPendingSlice,
  training: createTrainingSlice,
  monitor: createMonitorSlice,
  exports: createExportsSlice,
  explore: createExploreSlice,
  runs: createRunsSlice,
  storage: createStorageSlice,
} satisfies Record<string, StateCreator<Store, [], [], object>>;

/** One lifecycle per slice: a slice added above without one here does not compile. */
const LIFECYCLES: Record<keyof typeof SLICES, LifecycleOf> = {
  session: sessionLifecycle,
  selfTest: selfTestLifecycle,
  data: dataLifecycle,
  pending: pendingLifecycle,
  training: trainingLifecycle,
  monitor: monitorLifecycle,
  exports: exportsLifecycle,
  explore: exploreLifecycle,
  runs: runsLifecycle,
  storage: storageLifecycle,
};

export const useStore = create<Store>()((set, get, api) => {
  const lifecycles = Object.values(LIFECYCLES).map((lifecycle) => lifecycle(set, get));
  return {
    ...SLICES.session(set, get, api),
    ...SLICES.selfTest(set, get, api),
    ...SLICES.data(set, get, api),
    ...SLICES.pending(set, get, api),
    ...SLICES.training(set, get, api),
    ...SLICES.monitor(set, get, api),
    ...SLICES.exports(set, get, api),
    ...SLICES.explore(set, get, api),
    ...SLICES.runs(set, get, api),
    ...SLICES.storage(set, get, api),
    forgetTrainer: () => lifecycles.forEach((l) => l.onTrainerRestart()),
    settleFailedRequest: (request) => lifecycles.forEach((l) => l.onRequestFailed(request)),
  };
});
