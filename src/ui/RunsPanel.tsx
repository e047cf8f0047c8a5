import { useId, useRef, useState, type DragEvent } from 'react';
import type { RunSummary } from '../export/checkpoints';
import { useStore } from '../store/store';
import { fixed } from './format';

function savedAt(time: number): string {
  return new Date(time).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const finished = (run: RunSummary) => run.step >= run.totalSteps;

/** Whether runs can be resumed or deleted now: not while another run trains or images load. */
function useCanSwitchRuns(): boolean {
  const state = useStore((s) => s.trainerState);
  const phase = useStore((s) => s.phase);
  const loading = useStore((s) => s.datasetLoading || s.importState?.status === 'running' || s.resuming !== null);
  return phase === 'ready' && (state === 'idle' || state === 'stopped') && !loading;
}

/** On a reopened page: the last run, if it did not finish, one click from going on where it stopped. */
export function ResumeOffer() {
  const last = useStore((s) => s.runs[0]);
  const currentRunId = useStore((s) => s.currentRunId);
  const canSwitch = useCanSwitchRuns();
  const resumeRun = useStore((s) => s.resumeRun);
  if (!last || finished(last) || last.id === currentRunId) return null;
  return (
    <section className="panel resume-offer" aria-label="Resume last run">
      <p>
        Your last run, <strong>{last.name}</strong>, stopped at step {last.step} of {last.totalSteps} (saved {savedAt(last.updatedAt)}).
      </p>
      <button type="button" onClick={() => resumeRun(last.id)} disabled={!canSwitch}>
        Continue last run
      </button>
    </section>
  );
}

function CheckpointStatusLine() {
  const checkpoint = useStore((s) => s.checkpoint);
  const available = useStore((s) => s.runsAvailable);
  if (!available) return <p className="status-bad">This browser keeps no checkpoints (IndexedDB is unavailable): closing the tab loses the run.</p>;
  if (!checkpoint) return null;
  const time = new Date(checkpoint.at).toLocaleTimeString();
  switch (checkpoint.status) {
    case 'saving':
      return <p role="status">Saving checkpoint at step {checkpoint.step}…</p>;
    case 'saved':
      return <p role="status">Checkpoint saved at step {checkpoint.step} ({time}).</p>;
    case 'failed':
      return (
        <p role="status" className="status-bad">
          Checkpoint at step {checkpoint.step} not saved: {checkpoint.message}
        </p>
      );
  }
}

/** A downloaded model zip, chosen or dropped: it maps and embeds the images, and the next run starts from it. */
function LoadModel() {
  const loaded = useStore((s) => s.loadedModel);
  const loading = useStore((s) => s.loadingModel);
  const canSwitch = useCanSwitchRuns();
  const { chooseModel, forgetModel } = useStore.getState();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const hintId = useId();
  // Taken at any moment: a zip chosen while the trainer is busy waits (WaitingInput says for what).
  const take = (file: File | undefined) => {
    if (file) chooseModel(file);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(e.dataTransfer.files[0]);
  };
  const m = loaded?.config.model;
  return (
    <div
      className={`load-model${over ? ' drop-over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <h3>Load a downloaded model</h3>
      <p id={hintId} className="hint">
        Drop a zip saved with “Download weights” here, or choose it: it maps and embeds the images loaded now, and the next run trains on from it.
      </p>
      <input ref={input} type="file" accept=".zip,application/zip" hidden onChange={(e) => {
          take(e.target.files?.[0] ?? undefined);
          // The same file may be chosen again (after fixing it, or after a refusal).
          e.target.value = '';
        }} />
      <div className="controls">
        <button type="button" className="secondary" aria-describedby={hintId} onClick={() => input.current?.click()}>
          Load model (.zip)
        </button>
        {loaded && (
          <button type="button" className="secondary" disabled={!canSwitch} onClick={forgetModel}>
            Forget loaded model
          </button>
        )}
      </div>
      {loading && <p role="status">Checking {loading}…</p>}
      {loaded && m && (
        <p role="status">
          Loaded {loaded.fileName}: {m.encoder} (width {m.width}), {m.imageSize} px × {m.channels}, trained for {loaded.step} steps
          {loaded.hasHead ? ', with its projection head' : ''}.{' '}
          {loaded.fitsImages
            ? 'The map and “Download embeddings” use it; Start trains on from it.'
            : `Import images (they will be read at ${m.imageSize} px) to embed them with it.`}
        </p>
      )}
    </div>
  );
}

/** Every saved run: continue or open it, or delete it. */
export function RunsPanel() {
  const runs = useStore((s) => s.runs);
  const currentRunId = useStore((s) => s.currentRunId);
  const resuming = useStore((s) => s.resuming);
  const canSwitch = useCanSwitchRuns();
  const { resumeRun, deleteRun } = useStore.getState();
  const [confirming, setConfirming] = useState<string | null>(null);
  const hintId = useId();
  return (
    <section className="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Saved runs</h2>
      <CheckpointStatusLine />
      {resuming && <p role="status">Loading the saved run…</p>}
      <LoadModel />
      {!canSwitch && runs.length > 0 && (
        <p id={hintId} className="hint">
          Runs can be continued or opened while nothing trains and no images or model are loading.
        </p>
      )}
      {runs.length === 0 ? (
        <p className="hint">Runs are saved in this browser as they train (see “Checkpoint every” under the training settings).</p>
      ) : (
        <table className="runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Step</th>
              <th scope="col">Loss</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => {
              const current = run.id === currentRunId;
              // The run open now, finished: nothing more to open. A stopped, unfinished one can be continued.
              const openNow = current && finished(run);
              const label = `${run.name}, step ${run.step}`;
              return (
                <tr key={run.id} aria-current={current ? 'true' : undefined}>
                  <th scope="row">
                    {run.name}
                    <span className="hint">
                      {' '}
                      · {run.imageCount} images at {run.imageSize} px · saved {savedAt(run.updatedAt)}
                    </span>
                  </th>
                  <td>
                    {run.step} of {run.totalSteps}
                  </td>
                  <td>{run.lastLoss === null ? '—' : fixed(run.lastLoss)}</td>
                  <td>
                    <div className="controls run-actions">
                      <button
                        type="button"
                        className="secondary"
                        aria-label={`${finished(run) ? 'Open' : 'Continue'} ${label}`}
                        aria-describedby={canSwitch ? undefined : hintId}
                        disabled={!canSwitch || openNow}
                        onClick={() => resumeRun(run.id)}
                      >
                        {finished(run) ? 'Open' : 'Continue'}
                      </button>
                      {confirming === run.id ? (
                        <>
                          <button
                            type="button"
                            aria-label={`Delete ${label} for good`}
                            onClick={() => {
                              setConfirming(null);
                              deleteRun(run.id);
                            }}
                          >
                            Delete for good
                          </button>
                          <button type="button" className="secondary" aria-label={`Keep ${label}`} onClick={() => setConfirming(null)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button type="button" className="secondary" aria-label={`Delete ${label}`} disabled={current && !canSwitch} onClick={() => setConfirming(run.id)}>
                          Delete
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
