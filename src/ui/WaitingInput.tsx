// Images or a model zip the person chose that the trainer cannot take yet (src/store/pending.ts): what each waits for
// and, during a run, what to do about the run. Shown under the run bar, where it is in view whatever was scrolled and
// wherever the files were dropped.
import { waitReason, type RunDecision, type WaitReason } from '../store/pending';
import { useStore } from '../store/store';

type Holdup = Exclude<WaitReason, 'run'>;

const WAITS_FOR: Record<Holdup, string> = {
  starting: 'as soon as the GPU trainer is ready (it is starting)',
  'no-trainer': 'never: training is not available in this browser',
  importing: 'once the import under way has stopped',
  'loading-sample': 'as soon as the sample images are loaded',
  'opening-run': 'as soon as the saved run is open',
  'loading-model': 'as soon as the model is loaded',
  'self-test': 'as soon as the self-test is done',
};

/** The words and buttons for one kind of waiting input. */
interface Kind {
  which: 'images' | 'model';
  label: string;
  /** "imported", "loaded" */
  taken: string;
  /** What each decision says while a run is under way. */
  during: Record<RunDecision, string>;
  stopNow: string;
  afterRun: string;
  discard: string;
}

const IMAGES: Kind = {
  which: 'images',
  label: 'Waiting images',
  taken: 'imported',
  during: {
    undecided: 'are waiting: a run is under way. Stop it and train on these images, or keep training and use them for the next run?',
    'after-run': 'are waiting: the next run will use these images. They are imported when this run ends (finishes or is stopped); its checkpoint stays in Saved runs.',
    'stop-now': 'are waiting: the run is stopping (its checkpoint is saved), then they are imported.',
  },
  stopNow: 'Stop the run and switch',
  afterRun: 'Use for the next run',
  discard: 'Discard waiting images',
};

const MODEL: Kind = {
  which: 'model',
  label: 'Waiting model',
  taken: 'loaded',
  during: {
    undecided: 'is waiting: a run is under way. Stop it and load the model now, or load it when this run ends?',
    'after-run': 'is waiting: it is loaded when this run ends (finishes or is stopped); the run\u2019s checkpoint stays in Saved runs.',
    'stop-now': 'is waiting: the run is stopping (its checkpoint is saved), then the model is loaded.',
  },
  stopNow: 'Stop the run and load it',
  afterRun: 'Load it when the run ends',
  discard: 'Discard waiting model',
};

function Waiting({ kind, name, decision, reason }: { kind: Kind; name: string; decision: RunDecision; reason: WaitReason | null }) {
  const decide = useStore((s) => s.decidePending);
  const discard = (
    <button type="button" className="secondary" onClick={() => decide(kind.which, 'discard')}>
      {kind.discard}
    </button>
  );
  if (reason !== 'run') {
    return (
      <div className="waiting" role="group" aria-label={kind.label}>
        <p role="status">
          <strong>{name}</strong>: {reason ? `${kind.taken} ${WAITS_FOR[reason]}` : `being ${kind.taken} now`}.
        </p>
        <div className="controls">{discard}</div>
      </div>
    );
  }
  return (
    <div className="waiting" role="group" aria-label={kind.label}>
      <p role="status">
        <strong>{name}</strong> {kind.during[decision]}
      </p>
      <div className="controls">
        {decision !== 'stop-now' && (
          <button type="button" onClick={() => decide(kind.which, 'stop-now')}>
            {kind.stopNow}
          </button>
        )}
        {decision === 'undecided' && (
          <button type="button" className="secondary" onClick={() => decide(kind.which, 'after-run')}>
            {kind.afterRun}
          </button>
        )}
        {discard}
      </div>
    </div>
  );
}

/** Every input waiting for the trainer, with what it waits for. */
export function WaitingInput() {
  const images = useStore((s) => s.pendingImages);
  const model = useStore((s) => s.pendingModel);
  const reason = useStore(waitReason);
  if (!images && !model) return null;
  return (
    <div className="waiting-input">
      {model && <Waiting kind={MODEL} name={model.choice.name} decision={model.decision} reason={reason} />}
      {images && <Waiting kind={IMAGES} name={images.choice.name} decision={images.decision} reason={reason} />}
    </div>
  );
}
