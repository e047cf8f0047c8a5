// The run: its settings (validated as they are edited), the controls, and the latest step's metrics.
import type { StateCreator } from 'zustand';
import { validateTrainConfig, type ConfigProblem } from '../simclr/config';
import type { DatasetSummary, StepReport } from '../worker/protocol';
import { suggestedSettings, type RunSettings } from './defaults';
import type { Store } from './store';

export interface TrainingSlice {
  settings: RunSettings | null;
  /** Problems with the current settings, by field; Start is disabled while there are any. */
  settingProblems: ConfigProblem[];
  latest: StepReport | null;
  adoptDefaults(dataset: DatasetSummary): void;
  clearSettings(): void;
  updateSettings(change: (settings: RunSettings) => RunSettings): void;
  startTraining(): void;
  pauseTraining(): void;
  resumeTraining(): void;
  stopTraining(): void;
  receiveMetrics(report: StepReport): void;
}

function problemsOf(settings: RunSettings, dataset: DatasetSummary | null): ConfigProblem[] {
  const problems = validateTrainConfig(settings.config);
  if (!(Number.isInteger(settings.steps) && settings.steps >= 1 && settings.steps <= 1_000_000)) {
    problems.push({ field: 'steps', message: `steps: must be a whole number from 1 to 1,000,000, got ${settings.steps}` });
  }
  if (dataset && settings.config.batchSize > dataset.count) {
    problems.push({ field: 'batchSize', message: `batchSize: the data set has only ${dataset.count} images` });
  }
  return problems;
}

export const createTrainingSlice: StateCreator<Store, [], [], TrainingSlice> = (set, get) => ({
  settings: null,
  settingProblems: [],
  latest: null,

  adoptDefaults(dataset) {
    const settings = suggestedSettings(dataset, get().backend);
    set({ settings, settingProblems: problemsOf(settings, dataset) });
  },

  clearSettings() {
    set({ settings: null, settingProblems: [] });
  },

  updateSettings(change) {
    const current = get().settings;
    if (!current) return;
    const settings = change(current);
    // The cosine schedule ends with the run.
    settings.config.optim.totalSteps = Math.max(1, Math.round(settings.steps) || 1);
    set({ settings, settingProblems: problemsOf(settings, get().dataset) });
  },

  startTraining() {
    const { settings, settingProblems } = get();
    if (!settings || settingProblems.length) return;
    set({ latest: null });
    get().send({ type: 'start', config: settings.config, steps: settings.steps });
  },
  pauseTraining: () => get().send({ type: 'pause' }),
  resumeTraining: () => get().send({ type: 'resume' }),
  stopTraining: () => get().send({ type: 'stop' }),

  receiveMetrics(report) {
    set({ latest: report, step: report.step });
  },
});
