import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { budgetMessage } from '../data/budget';
import { filesFromDirectoryHandle, filesFromDrop, filesFromInput } from '../data/collect';
import { IMPORT_SIZES } from '../store/data';
import { isModelZip } from '../store/pending';
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

/**
 * Files dropped anywhere on the page, not only on a drop zone: a browser left to itself opens a dropped file in place of
 * the page, and the run with it. A zip is a model to load; anything else is images.
 */
function useDropAnywhere(): void {
  useEffect(() => {
    const over = (event: globalThis.DragEvent) => {
      if (event.dataTransfer?.types.includes('Files')) event.preventDefault();
    };
    const drop = (event: globalThis.DragEvent) => {
      // A drop zone below took it already.
      if (event.defaultPrevented || !event.dataTransfer) return;
      event.preventDefault();
      const { chooseModel, chooseImages } = useStore.getState();
      const files = Array.from(event.dataTransfer.files);
      if (files.length === 1 && isModelZip(files[0]!)) chooseModel(files[0]!);
      else void filesFromDrop(event.dataTransfer).then(chooseImages);
    };
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, []);
}

/** What the trainer learns from: a folder or images from the user (dropped or chosen), or the sample set. */
export function DataPanel() {
  const dataset = useStore((s) => s.dataset);
  const loading = useStore((s) => s.datasetLoading);
  const importing = useStore((s) => s.importState?.status === 'running');
  const importSize = useStore((s) => s.importSize);
  const cacheCleared = useStore((s) => s.cacheCleared);
  const choiceNote = useStore((s) => s.choiceNote);
  const { chooseImages, chooseSample, setImportSize, clearCache } = useStore.getState();
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const sizeId = useId();
  const [dragging, setDragging] = useState(false);
  useDropAnywhere();

  // Never disabled for timing: a choice made while the trainer starts, loads or trains waits (WaitingInput says why).
  const chooseFolder = async () => {
    const picker = (window as PickerWindow).showDirectoryPicker;
    if (!picker) return folderInput.current?.click();
    try {
      chooseImages(await filesFromDirectoryHandle(await picker.call(window)));
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e;
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void filesFromDrop(event.dataTransfer).then(chooseImages);
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
          <button type="button" onClick={() => void chooseFolder()}>
            Choose folder
          </button>
          <button type="button" onClick={() => filesInput.current?.click()}>
            Choose images
          </button>
          <button type="button" onClick={chooseSample}>
            Try the sample images
          </button>
        </div>
        <div className="field inline">
          <label htmlFor={sizeId}>Image size for training</label>
          <select id={sizeId} value={importSize} onChange={(e) => setImportSize(Number(e.target.value))}>
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
            chooseImages(filesFromInput(e.target.files ?? []));
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
            chooseImages(filesFromInput(e.target.files ?? []));
            e.target.value = '';
          }}
        />
      </div>
      {choiceNote && <p role="status">{choiceNote}</p>}
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
