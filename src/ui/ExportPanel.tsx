import { useStore } from '../store/store';

/** One click takes the trained encoder away, or every image's representation for the Embedding Projector. */
export function ExportPanel() {
  const snapshots = useStore((s) => s.snapshots.length);
  const state = useStore((s) => s.trainerState);
  const exporting = useStore((s) => s.exporting);
  const lastDownload = useStore((s) => s.lastDownload);
  const includeHead = useStore((s) => s.includeHead);
  const { exportModel, exportEmbeddings, setIncludeHead } = useStore.getState();
  const stepped = useStore((s) => s.latest !== null);
  // There is a model once a run has reported a step, or has a map (a loaded model once it is in place, or a run paused
  // before its first step).
  const loading = useStore((s) => s.loadingModel !== null || s.resuming !== null);
  const ready = (snapshots > 0 || stepped) && state !== 'compiling' && !loading;
  const busy = exporting !== null;
  return (
    <section className="panel" aria-labelledby="export-title">
      <h2 id="export-title">Downloads</h2>
      <p>
        The encoder as a TensorFlow.js model, as ONNX, and as PyTorch-named safetensors with a PyTorch module that loads them, with its
        config and a README on using each. Or every image's representation for TensorFlow's Embedding Projector.
      </p>
      <label className="checkbox">
        <input type="checkbox" checked={includeHead} onChange={(e) => setIncludeHead(e.target.checked)} /> Include the projection head
      </label>
      <div className="controls">
        <button type="button" onClick={exportModel} disabled={!ready || busy}>
          Download weights (.zip)
        </button>
        <button type="button" className="secondary" onClick={exportEmbeddings} disabled={!ready || busy}>
          Download embeddings (.zip)
        </button>
      </div>
      {exporting && (
        <div className="progress">
          <progress aria-label="Export progress" max={exporting.total} value={exporting.done} />
          <span>{exporting.kind === 'model' ? 'Preparing the weights…' : `Embedding images: ${exporting.done} of ${exporting.total}`}</span>
        </div>
      )}
      {!ready && <p className="hint">Start a run to have something to download.</p>}
      {lastDownload && <p aria-live="polite">Saved {lastDownload}.</p>}
    </section>
  );
}
