import { useId } from 'react';
import { defaultMethodConfig, fitMethodToData, METHOD_NAMES, METHODS, methodOf, type MethodConfig, type MethodName } from '../engine/methods';
import { PRESETS, type PresetName, type RunSettings } from '../store/defaults';
import { useStore } from '../store/store';
import { Thumbnail } from './Thumbnail';

interface NumberFieldProps {
  label: string;
  /** The setting's path, whose validation problem (if any) is shown next to the input. */
  field: string;
  /** A problem found outside the training config's validation; overrides the lookup by field. */
  problem?: string | null;
  value: number;
  step?: number | 'any';
  disabled: boolean;
  onChange(value: number): void;
}

/** A labelled number input that shows its validation problem next to it, or else what the value gives up (a caution). */
function NumberField({ label, field, problem: given, value, step = 'any', disabled, onChange }: NumberFieldProps) {
  const id = useId();
  const found = useStore((s) => s.settingProblems.find((p) => p.field === field)?.message.replace(/^[\w.]+: /, ''));
  const caution = useStore((s) => s.settingCautions.find((p) => p.field === field)?.message);
  const problem = given === undefined ? found : given;
  const note = problem ? { text: problem, className: 'field-problem' } : caution ? { text: caution, className: 'field-caution' } : null;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        step={step}
        value={Number.isFinite(value) ? value : ''}
        disabled={disabled}
        aria-invalid={problem ? true : undefined}
        aria-describedby={note ? `${id}-note` : undefined}
        onChange={(e) => onChange(e.target.value === '' ? NaN : Number(e.target.value))}
      />
      {note && (
        <span id={`${id}-note`} className={note.className}>
          {note.text}
        </span>
      )}
    </div>
  );
}

/** The method choice and the chosen method's own settings (SimCLR's temperature, …), from its registry entry. */
function MethodFields({ method, disabled }: { method: MethodConfig; disabled: boolean }) {
  const update = useStore((s) => s.updateSettings);
  const methodId = useId();
  const spec = methodOf(method);
  const datasetSize = useStore((s) => s.dataset?.count ?? null);
  const setMethod = (next: MethodConfig) => update((s) => ({ ...s, config: { ...s.config, method: next } }));
  // A chosen method starts from its defaults within what the folder allows (MoCo's queue no longer than the folder).
  const chooseMethod = (name: MethodName) =>
    update((s) => {
      const defaults = defaultMethodConfig(name);
      return { ...s, config: { ...s.config, method: datasetSize === null ? defaults : fitMethodToData(defaults, { datasetSize, batchSize: s.config.batchSize }) } };
    });
  const values = method as unknown as Record<string, number>;
  return (
    <>
      <div className="field">
        <label htmlFor={methodId}>Method</label>
        <select id={methodId} value={method.name} title={spec.summary} onChange={(e) => chooseMethod(e.target.value as MethodName)}>
          {METHOD_NAMES.map((name) => (
            <option key={name} value={name}>
              {METHODS[name].label}
            </option>
          ))}
        </select>
      </div>
      {Object.entries(spec.settings).map(([key, setting]) => (
        <NumberField
          key={`${method.name}-${key}`}
          label={setting.label}
          field={`method.${key}`}
          value={values[key]!}
          step={setting.integer ? 1 : 'any'}
          disabled={disabled}
          onChange={(value) => setMethod({ ...method, [key]: value } as MethodConfig)}
        />
      ))}
    </>
  );
}

function SettingsForm({ settings, disabled }: { settings: RunSettings; disabled: boolean }) {
  const update = useStore((s) => s.updateSettings);
  const setModel = (change: Partial<RunSettings['config']['model']>) =>
    update((s) => ({ ...s, config: { ...s.config, model: { ...s.config.model, ...change } } }));
  const setOptim = (change: Partial<RunSettings['config']['optim']>) =>
    update((s) => ({ ...s, config: { ...s.config, optim: { ...s.config.optim, ...change } } }));
  const { config } = settings;
  const encoderId = useId();
  const optimizerId = useId();
  return (
    <fieldset className="settings" disabled={disabled}>
      <legend>Settings</legend>
      <MethodFields method={config.method} disabled={disabled} />
      <div className="field">
        <label htmlFor={encoderId}>Encoder</label>
        <select id={encoderId} value={config.model.encoder} onChange={(e) => setModel({ encoder: e.target.value as 'convnet4' | 'resnet18' })}>
          <option value="convnet4">convnet4 (4 conv blocks, fast)</option>
          <option value="resnet18">resnet18 (small-image ResNet-18)</option>
        </select>
      </div>
      <NumberField label="Width multiplier" field="model.width" value={config.model.width} disabled={disabled} onChange={(width) => setModel({ width })} />
      <NumberField label="Batch size" field="batchSize" value={config.batchSize} step={1} disabled={disabled} onChange={(batchSize) => update((s) => ({ ...s, config: { ...s.config, batchSize } }))} />
      <NumberField label="Steps" field="steps" value={settings.steps} step={1} disabled={disabled} onChange={(steps) => update((s) => ({ ...s, steps }))} />
      <div className="field">
        <label htmlFor={optimizerId}>Optimiser</label>
        <select id={optimizerId} value={config.optim.optimizer} onChange={(e) => setOptim({ optimizer: e.target.value as 'adam' | 'sgd' | 'lars' })}>
          <option value="adam">Adam</option>
          <option value="sgd">SGD with momentum</option>
          <option value="lars">LARS</option>
        </select>
      </div>
      <NumberField label="Learning rate" field="optim.learningRate" value={config.optim.learningRate} disabled={disabled} onChange={(learningRate) => setOptim({ learningRate })} />
      <NumberField label="Warm-up steps" field="optim.warmupSteps" value={config.optim.warmupSteps} step={1} disabled={disabled} onChange={(warmupSteps) => setOptim({ warmupSteps })} />
    </fieldset>
  );
}

/** The augmentation's strengths, with a preview of augmented pairs of the user's own images. */
function AugmentationForm({ settings, disabled }: { settings: RunSettings; disabled: boolean }) {
  const update = useStore((s) => s.updateSettings);
  const preview = useStore((s) => s.augmentPreview);
  const requestPreview = useStore((s) => s.requestAugmentPreview);
  const { augment, model } = settings.config;
  const set = (change: Partial<RunSettings['config']['augment']>) => update((s) => ({ ...s, config: { ...s.config, augment: { ...s.config.augment, ...change } } }));
  // The paper's jitter strength s: brightness, contrast, saturation 0.8·s; hue 0.2·s (colour images only).
  const strength = augment.brightness / 0.8;
  const setStrength = (s: number) =>
    set({ brightness: 0.8 * s, contrast: 0.8 * s, saturation: model.channels === 3 ? 0.8 * s : 0, hue: model.channels === 3 ? 0.2 * s : 0 });
  return (
    <fieldset className="settings" disabled={disabled}>
      <legend>Augmentation</legend>
      <NumberField label="Smallest crop (fraction of area)" field="augment.cropAreaMin" value={augment.cropAreaMin} disabled={disabled} onChange={(cropAreaMin) => set({ cropAreaMin })} />
      <NumberField label="Colour jitter strength" field="augment.brightness" value={Number(strength.toFixed(3))} disabled={disabled} onChange={setStrength} />
      <NumberField label="Jitter probability" field="augment.jitterProb" value={augment.jitterProb} disabled={disabled} onChange={(jitterProb) => set({ jitterProb })} />
      <NumberField label="Flip probability" field="augment.flipProb" value={augment.flipProb} disabled={disabled} onChange={(flipProb) => set({ flipProb })} />
      {model.channels === 3 && (
        <NumberField label="Grayscale probability" field="augment.grayscaleProb" value={augment.grayscaleProb} disabled={disabled} onChange={(grayscaleProb) => set({ grayscaleProb })} />
      )}
      <NumberField label="Blur probability" field="augment.blurProb" value={augment.blurProb} disabled={disabled} onChange={(blurProb) => set({ blurProb })} />
      <div className="field preview-field">
        <button type="button" className="secondary" onClick={requestPreview}>
          Preview augmented pairs
        </button>
        {preview && (
          <div className="pairs" role="group" aria-label="Augmented pairs">
            {Array.from({ length: preview.count }, (_, i) => (
              <span key={i} className="pair">
                <Thumbnail probe={preview} position={2 * i} size={44} />
                <Thumbnail probe={preview} position={2 * i + 1} size={44} />
              </span>
            ))}
          </div>
        )}
      </div>
    </fieldset>
  );
}

function MonitoringForm({ disabled }: { disabled: boolean }) {
  const monitor = useStore((s) => s.monitorSettings);
  const setMonitor = useStore((s) => s.setMonitorSettings);
  const checkpointEvery = useStore((s) => s.checkpointEvery);
  const setCheckpointEvery = useStore((s) => s.setCheckpointEvery);
  return (
    <fieldset className="settings" disabled={disabled}>
      <legend>Monitoring and checkpoints</legend>
      <NumberField label="Map every (steps)" field="monitor.snapshotEvery" value={monitor.snapshotEvery} step={1} disabled={disabled} onChange={(snapshotEvery) => setMonitor({ snapshotEvery })} />
      <NumberField label="Images on the map" field="monitor.probeCount" value={monitor.probeCount} step={1} disabled={disabled} onChange={(probeCount) => setMonitor({ probeCount })} />
      <NumberField label="Checkpoint every (steps)" field="checkpointEvery" value={checkpointEvery} step={1} disabled={disabled} onChange={setCheckpointEvery} />
      <p className="hint">A checkpoint is also saved on pause, on stop and at the end; 0 saves none.</p>
    </fieldset>
  );
}

/** The settings the forms above show a field for (each shows its own problem); the method's own settings are added. */
const FIELDS_WITH_INPUTS = new Set([
  'model.width', 'batchSize', 'steps', 'optim.learningRate', 'optim.warmupSteps', 'monitor.snapshotEvery', 'monitor.probeCount', 'checkpointEvery',
  'augment.cropAreaMin', 'augment.brightness', 'augment.jitterProb', 'augment.flipProb', 'augment.grayscaleProb', 'augment.blurProb',
]);

/** The run's settings: presets, method, model and optimiser, augmentation and monitoring. Start and the rest are in the run bar. */
export function TrainPanel() {
  const settings = useStore((s) => s.settings);
  const problems = useStore((s) => s.settingProblems);
  const state = useStore((s) => s.trainerState);
  const { applyPreset } = useStore.getState();
  const active = state === 'training' || state === 'compiling' || state === 'paused';

  return (
    <section className="panel" aria-labelledby="train-title">
      <h2 id="train-title">Settings</h2>
      {active && <p className="hint">Settings are locked while a run is under way; stop it to change them.</p>}
      {settings && (
        <div className="controls presets" role="group" aria-label="Presets">
          {(Object.keys(PRESETS) as PresetName[]).map((p) => (
            <button key={p} type="button" className="secondary" title={PRESETS[p].description} disabled={active} onClick={() => applyPreset(p)}>
              {PRESETS[p].label}
            </button>
          ))}
        </div>
      )}
      {settings ? (
        <>
          <SettingsForm settings={settings} disabled={active} />
          <details>
            <summary>Augmentation and monitoring</summary>
            <AugmentationForm settings={settings} disabled={active} />
            <MonitoringForm disabled={active} />
          </details>
        </>
      ) : (
        <p>Load images to set up a run.</p>
      )}
      {settings && (
        <ul className="run-problems" aria-label="Why the run cannot start">
          {problems
            .filter((p) => !FIELDS_WITH_INPUTS.has(p.field) && !p.field.startsWith('method.'))
            .map((p) => (
              <li key={p.message} className="field-problem">
                {p.message}
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}
