// The run: its settings (validated as they are edited), the controls, and the latest step's metrics.
import type { StateCreator } from 'zustand';
import type { ConfigProblem } from '../engine/config';
import type { DatasetSummary, RecordedStep } from '../worker/protocol';
import { runCautions, runProblems } from '../worker/validation';
import { applyPreset, suggestedSettings, type PresetName, type RunSettings } from './defaults';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

export interface AugmentPreview {
  pixels: Uint8Array;
  count: number;
  imageSize: number;
  channels: 1 | 3;
}

/** Images in the augmentation preview, each shown as its two views. */
export const PREVIEW_IMAGES = 6;

export interface TrainingSlice {
  augmentPreview: AugmentPreview | null;
  requestAugmentPreview(): void;
  receiveAugmentPreview(preview: AugmentPreview): void;
  applyPreset(preset: PresetName): void;
  settings: RunSettings | null;
  /**
   * Problems with the run as it would start now (settings, monitoring, checkpoints, against the images, the device and a
   * loaded model), by field, from the check the worker makes too; Start is disabled while there are any.
   */
  settingProblems: ConfigProblem[];
  /** What the settings give up of the method (MoCo with its shuffled batch norm off), by field: said, never blocking. */
  settingCautions: ConfigProblem[];
  /** Checks the run's settings again: after any change to them, the images, the device or the loaded model. */
  checkSettings(): void;
  latest: RecordedStep | null;
  adoptDefaults(dataset: DatasetSummary): void;
  clearSettings(): void;
  updateSettings(change: (settings: RunSettings) => RunSettings): void;
  startTraining(): void;
  pauseTraining(): void;
  resumeTraining(): void;
  /** Goes on with the paused run at a smaller batch (the out-of-memory fault's offer); the settings follow. */
  resumeWithBatch(batchSize: number): void;
  stopTraining(): void;
  receiveMetrics(report: RecordedStep): void;
}

export const trainingLifecycle: LifecycleOf = (set) => ({
  onTrainerRestart() {
    set({ latest: null });
  },
  onRequestFailed() {},
});

export const createTrainingSlice: StateCreator<Store, [], [], TrainingSlice> = (set, get) => ({
  settings: null,
  settingProblems: [],
  settingCautions: [],
  latest: null,
  augmentPreview: null,

  requestAugmentPreview() {
    const { settings } = get();
    if (!settings) return;
    get().send({ type: 'preview-augment', augment: settings.config.augment, count: PREVIEW_IMAGES, seed: Math.floor(Math.random() * 2 ** 31) });
  },

  receiveAugmentPreview(augmentPreview) {
    set({ augmentPreview });
  },

  applyPreset(preset) {
    const { settings, dataset, backend } = get();
    if (!settings || !dataset) return;
    set({ settings: applyPreset(settings, preset, dataset, backend) });
    get().checkSettings();
  },

  adoptDefaults(dataset) {
    // With a model loaded, the next run keeps its architecture; otherwise the defaults suit the images.
    const loaded = get().loadedModel?.config;
    const current = get().settings;
    const settings = loaded && current ? { ...current, config: { ...loaded, optim: { ...loaded.optim, totalSteps: current.steps } } } : suggestedSettings(dataset, get().backend);
    set({ settings });
    get().checkSettings();
  },

  clearSettings() {
    set({ settings: null, settingProblems: [], settingCautions: [] });
  },

  updateSettings(change) {
    const current = get().settings;
    if (!current) return;
    const changed = change(current);
    // The cosine schedule ends with the run. (A copy: the previous settings object stays as it was.)
    const totalSteps = Math.max(1, Math.round(changed.steps) || 1);
    const settings = { ...changed, config: { ...changed.config, optim: { ...changed.config.optim, totalSteps } } };
    set({ settings });
    get().checkSettings();
  },

  checkSettings() {
    const { settings, monitorSettings, checkpointEvery, dataset, backend, loadedModel } = get();
    if (!settings) return set({ settingProblems: [], settingCautions: [] });
    const request = { config: settings.config, steps: settings.steps, monitor: monitorSettings, checkpointEvery };
    set({
      settingProblems: runProblems(request, { dataset, maxBufferBytes: backend?.maxBufferBytes ?? null, loadedModel }),
      settingCautions: runCautions(settings.config),
    });
  },

  startTraining() {
    const { settings, settingProblems } = get();
    if (!settings || settingProblems.length) return;
    set({ latest: null, runInfo: null, currentRunId: null, resumableRunId: null, checkpoint: null });
    get().resetMonitor();
    get().send({ type: 'start', config: settings.config, steps: settings.steps, monitor: get().monitorSettings, checkpointEvery: get().checkpointEvery });
  },
  pauseTraining: () => get().send({ type: 'pause' }),
  resumeTraining: () => get().send({ type: 'resume' }),
  resumeWithBatch(batchSize) {
    const { settings } = get();
    if (settings) get().updateSettings((s) => ({ ...s, config: { ...s.config, batchSize } }));
    set({ problem: null });
    get().send({ type: 'resume', batchSize });
  },
  stopTraining: () => get().send({ type: 'stop' }),

  receiveMetrics(report) {
    set({ latest: report, step: report.step });
  },
});
