import { useStore } from '../store/store';

/** What the trainer will learn from. (Folder import comes next; the built-in sample set works today.) */
export function DataPanel() {
  const dataset = useStore((s) => s.dataset);
  const loading = useStore((s) => s.datasetLoading);
  const phase = useStore((s) => s.phase);
  const trainerState = useStore((s) => s.trainerState);
  const load = useStore((s) => s.loadSampleSet);
  const busy = trainerState === 'training' || trainerState === 'compiling' || trainerState === 'paused';
  return (
    <section className="panel" aria-labelledby="data-title">
      <h2 id="data-title">Images</h2>
      {loading && <p>Loading the sample images…</p>}
      {dataset && (
        <p>
          <strong>{dataset.name}</strong>: {dataset.count} images, {dataset.imageSize} × {dataset.imageSize} px,{' '}
          {dataset.channels === 1 ? 'grayscale' : 'colour'},{' '}
          {dataset.labelled ? `${dataset.classNames.length} classes found (used only to evaluate)` : 'no labels'}
        </p>
      )}
      <button type="button" onClick={load} disabled={phase !== 'ready' || loading || busy}>
        Try the sample images
      </button>
    </section>
  );
}
