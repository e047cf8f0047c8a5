import { useId, useRef, useState, type DragEvent } from 'react';
import { budgetMessage } from '../data/budget';
import { filesFromDirectoryHandle, filesFromDrop, filesFromInput } from '../data/collect';
import type { ImportFile } from '../data/importer';
import { IMPORT_SIZES } from '../store/data';
import { useStore } from '../store/store';

type PickerWindow = Window & { showDirectoryPicker?: () => Promise<Parameters<typeof filesFromDirectoryHandle>[0]> };

function ImportProgress() {
  const state = useStore((s) => s.importState);
  const cancel = useStore((s) => s.cancelImport);
  if (!state) return null;
  const { counts, elapsedMs } = state;
  const rate = elapsedMs > 0 ? (counts.processed * 1000) / elapsedMs : 0;
  // Files the memory budget had no room for: said once the import is over, where it cannot be missed.
  const leftOut = state.status === 'done' ? budgetMessage(counts) : null;
  const summary =
    `${counts.processed} of ${counts.found} files · ${counts.decoded} decoded · ${counts.fromCache} from cache · ` +
    `${counts.skipped} skipped${counts.duplicates ? ` (${counts.duplicates} duplicates)` : ''}`;
  return (
    <div className="import">
      {state.status === 'running' && (
        <div className="progress">
          <progress aria-label="Import progress" max={Math.max(1, counts.found)} value={counts.processed} />
          <button type="button" onClick={cancel}>
            Cancel import
          </button>
        </div>
      )}
      <p aria-live="polite">
        {state.status === 'running' ? `Importing ${state.name}: ` : state.status === 'cancelled' ? `Import of ${state.name} cancelled: ` : `Imported ${state.name}: `}
        {summary}
        {state.status === 'running' && rate > 0 && ` · ${rate.toFixed(0)} files/s`}
        {state.status === 'done' && ` · ${(elapsedMs / 1000).toFixed(1)} s`}
      </p>
      {leftOut && <p className="status-bad">{leftOut}</p>}
      {state.cacheProblem && <p className="status-bad">Decoded images could not be cached ({state.cacheProblem}); the import itself is complete.</p>}
      {state.skipped.length > 0 && (
        <details>
          <summary>
            {state.skipped.length} {state.skipped.length === 1 ? 'file' : 'files'} skipped
          </summary>
          <table className="skipped">
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {state.skipped.map((s) => (
                <tr key={s.path}>
                  <td>{s.path}</td>
                  <td>{s.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </div>
  );
}

/** What the trainer learns from: a folder or images from the user (dropped or chosen), or the sample set. */
export function DataPanel() {
  const dataset = useStore((s) => s.dataset);
  const loading = useStore((s) => s.datasetLoading);
  const phase = useStore((s) => s.phase);
  const trainerState = useStore((s) => s.trainerState);
  const importing = useStore((s) => s.importState?.status === 'running');
  const importSize = useStore((s) => s.importSize);
  const cacheCleared = useStore((s) => s.cacheCleared);
  const { loadSampleSet, importFiles, setImportSize, clearCache } = useStore.getState();
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const sizeId = useId();
  const [dragging, setDragging] = useState(false);
  const busy = trainerState === 'training' || trainerState === 'compiling' || trainerState === 'paused';
  const disabled = phase !== 'ready' || loading || busy || importing;

  const start = (files: ImportFile[]) => {
    if (files.length) importFiles(files);
  };
  const chooseFolder = async () => {
    const picker = (window as PickerWindow).showDirectoryPicker;
    if (!picker) return folderInput.current?.click();
    try {
      start(await filesFromDirectoryHandle(await picker.call(window)));
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e;
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    if (!disabled) void filesFromDrop(event.dataTransfer).then(start);
  };

  return (
    <section className="panel" aria-labelledby="data-title">
      <h2 id="data-title">Images</h2>
      <div
        className={`drop-zone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>Drop a folder or images here. Sub-folders become labels, used only to evaluate.</p>
        <div className="controls">
          <button type="button" onClick={() => void chooseFolder()} disabled={disabled}>
            Choose folder
          </button>
          <button type="button" onClick={() => filesInput.current?.click()} disabled={disabled}>
            Choose images
          </button>
          <button type="button" onClick={loadSampleSet} disabled={disabled}>
            Try the sample images
          </button>
        </div>
        <div className="field inline">
          <label htmlFor={sizeId}>Image size for training</label>
          <select id={sizeId} value={importSize} disabled={disabled} onChange={(e) => setImportSize(Number(e.target.value))}>
            {IMPORT_SIZES.map((s) => (
              <option key={s} value={s}>
                {s} × {s} px
              </option>
            ))}
          </select>
        </div>
        <input
          ref={folderInput}
          type="file"
          hidden
          multiple
          aria-label="Folder to import"
          {...{ webkitdirectory: '' }}
          onChange={(e) => {
            start(filesFromInput(e.target.files ?? []));
            e.target.value = '';
          }}
        />
        <input
          ref={filesInput}
          type="file"
          hidden
          multiple
          accept="image/*"
          aria-label="Images to import"
          onChange={(e) => {
            start(filesFromInput(e.target.files ?? []));
            e.target.value = '';
          }}
        />
      </div>
      <ImportProgress />
      {loading && <p>Loading the sample images…</p>}
      {dataset && (
        <p className="dataset-summary">
          <strong>{dataset.name}</strong>: {dataset.count} images, {dataset.imageSize} × {dataset.imageSize} px,{' '}
          {dataset.channels === 1 ? 'grayscale' : 'colour'},{' '}
          {dataset.labelled ? `${dataset.classNames.length} classes found (used only to evaluate)` : 'no labels'}
        </p>
      )}
      <button type="button" className="secondary" onClick={clearCache} disabled={importing}>
        Clear image cache
      </button>
      {cacheCleared && <span role="status"> Image cache cleared.</span>}
    </section>
  );
}
