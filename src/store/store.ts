// One zustand store, built from slices; the worker connection feeds it.
import { create } from 'zustand';
import { createDataSlice, type DataSlice } from './data';
import { createExportsSlice, type ExportsSlice } from './exports';
import { createMonitorSlice, type MonitorSlice } from './monitor';
import { createRunsSlice, type RunsSlice } from './runs';
import { createSelfTestSlice, type SelfTestSlice } from './selfTest';
import { createSessionSlice, type SessionSlice } from './session';
import { createTrainingSlice, type TrainingSlice } from './training';

export type Store = SessionSlice & SelfTestSlice & DataSlice & TrainingSlice & MonitorSlice & ExportsSlice & RunsSlice;

export const useStore = create<Store>()((...a) => ({
  ...createSessionSlice(...a),
  ...createSelfTestSlice(...a),
  ...createDataSlice(...a),
  ...createTrainingSlice(...a),
  ...createMonitorSlice(...a),
  ...createExportsSlice(...a),
  ...createRunsSlice(...a),
}));
