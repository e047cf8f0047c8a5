// The run's header, always in view above the live charts and the map: Start, Pause, Resume and Stop, and where the run
// is (state, step, progress, speed and time left). What the last step measured is in LastStep, beside the charts.
import { useEffect, useRef } from 'react';
import { etaSeconds, metricsHistory, subscribePerFrame } from '../store/metricsHistory';
import { useStore } from '../store/store';
import { fixed, formatDuration, percent } from './format';
import { methodOf, methodSettings } from '../engine/methods';

const STATE_TEXT = {
  idle: 'Ready to train',
  compiling: 'Preparing the GPU (compiling pipelines)…',
  training: 'Training',
  paused: 'Paused',
  stopped: 'Stopped',
} as const;

/** Whether Start can be pressed now, and whether a run is under way (compiling, training or paused). */
function useRunControls(): { canStart: boolean; active: boolean } {
  const phase = useStore((s) => s.phase);
  const hasSettings = useStore((s) => s.settings !== null);
  // Every setting's problem, monitoring and checkpoints included (src/worker/validation.ts, shared with the worker).
  const settingsOk = useStore((s) => s.settingProblems.length === 0);
  const state = useStore((s) => s.trainerState);
  const selfTesting = useStore((s) => s.selfTest.status === 'running');
  const loadingImages = useStore((s) => s.datasetLoading || s.importState?.status === 'running' || s.resuming !== null || s.loadingModel !== null);
  const active = state === 'training' || state === 'compiling' || state === 'paused';
  return { canStart: phase === 'ready' && hasSettings && settingsOk && !active && !selfTesting && !loadingImages, active };
}

/** Speed and time left, written straight to the DOM once per frame: text that changes every step is not worth a render. */
function SpeedAndEta({ totalSteps }: { totalSteps: number }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const update = () => {
      if (!ref.current) return;
      const n = metricsHistory.length;
      if (n === 0) {
        ref.current.textContent = '';
        return;
      }
      const speed = metricsHistory.columns().imagesPerSec[n - 1]!;
      const eta = etaSeconds(metricsHistory, totalSteps > 0 ? totalSteps : metricsHistory.totalSteps);
      const parts = [`${Number.isFinite(speed) ? String(Number(speed.toPrecision(3))) : '—'} images/s`];
      if (eta === 0) parts.push('done');
      else if (eta != null) parts.push(`about ${formatDuration(eta)} left`);
      ref.current.textContent = parts.join(' · ');
    };
    update();
    return subscribePerFrame(metricsHistory, update);
  }, [totalSteps]);
  return <span ref={ref} className="run-speed" />;
}

/** Start, pause, resume and stop a run, with its progress, speed and time left. */
export function RunBar() {
  const { canStart, active } = useRunControls();
  const state = useStore((s) => s.trainerState);
  const latest = useStore((s) => s.latest);
  const dataset = useStore((s) => s.dataset);
  const problemCount = useStore((s) => (s.settings ? s.settingProblems.length : 0));
  const { startTraining, pauseTraining, resumeTraining, stopTraining } = useStore.getState();
  const finished = state === 'stopped' && latest !== null && latest.step === latest.totalSteps;
  return (
    <section className="run-bar" aria-label="Run">
      <div className="controls run-controls">
        <button type="button" onClick={startTraining} disabled={!canStart}>
          Start
        </button>
        <button type="button" onClick={pauseTraining} disabled={state !== 'training' && state !== 'compiling'}>
          Pause
        </button>
        <button type="button" onClick={resumeTraining} disabled={state !== 'paused'}>
          Resume
        </button>
        <button type="button" onClick={stopTraining} disabled={!active}>
          Stop
        </button>
      </div>
      <div className="run-where">
        <p className="run-state">
          {/* Only the state is announced; the step counter changes too often for a screen reader. */}
          <span aria-live="polite">{finished ? 'Finished' : STATE_TEXT[state]}</span>
          {latest && ` · step ${latest.step} of ${latest.totalSteps}`}
        </p>
        {latest && <progress className="run-progress" aria-label="Steps done" max={latest.totalSteps} value={latest.step} />}
        <SpeedAndEta totalSteps={latest?.totalSteps ?? 0} />
      </div>
      {!active && problemCount > 0 && (
        <p className="run-blocked status-bad">
          Start waits for the settings: {problemCount === 1 ? '1 problem' : `${problemCount} problems`}, <a href="#train-title">see Settings</a>.
        </p>
      )}
      {!latest && dataset && (
        <p className="run-data hint">
          {dataset.name}: {dataset.count} images, {dataset.imageSize} px{dataset.labelled ? `, ${dataset.classNames.length} classes` : ''}
        </p>
      )}
    </section>
  );
}

/** The last step's figures in words: what the charts end at, readable without hovering them. */
export function LastStep() {
  const latest = useStore((s) => s.latest);
  const settings = useStore((s) => s.settings);
  if (!latest || !settings) return null;
  const method = methodOf(settings.config.method);
  const levels = method.levels({ batchSize: settings.config.batchSize, projectionDim: settings.config.model.projectionDim, settings: methodSettings(settings.config.method) });
  // The level the loss is read against: SimCLR's no-learning ln(2N − 1), or where a non-contrastive loss collapses.
  const lossLevel = levels.noLearning ? `no learning: ${levels.noLearning.label}` : `collapse: ${levels.collapsed.label}`;
  return (
    <dl className="run-figures" aria-label="Last step">
      <div>
        <dt>Loss ({method.lossLabel})</dt>
        <dd>
          {fixed(latest.methodLoss)} <span className="hint">({lossLevel})</span>
        </dd>
      </div>
      {method.diagnostics.map((d) => (
        <div key={d.key}>
          <dt>{d.label}</dt>
          <dd>{d.format === 'fraction' ? percent(latest.diagnostics[d.key] ?? NaN, 1) : fixed(latest.diagnostics[d.key] ?? NaN, 4)}</dd>
        </div>
      ))}
      <div>
        <dt>Embedding std</dt>
        <dd>{fixed(latest.embeddingStd, 4)}</dd>
      </div>
      <div>
        <dt>Learning rate</dt>
        <dd>{latest.lr.toExponential(2)}</dd>
      </div>
    </dl>
  );
}
