// Explore: the whole folder under the trained encoder, the untrained one or raw pixels — near-duplicates with a live
// threshold, outliers, k-means groups (and how well they match labels), search by an image from outside the set,
// and a selection made on the map or from the lists, taken away as files.
import { useMemo, useState } from 'react';
import { keepOnePerGroup, NearDuplicates } from '../engine/explore/duplicates';
import { rankOutliers } from '../engine/explore/outliers';
import { MAX_GROUPS } from '../engine/explore/limits';
import { folderPicker, type SelectionMode } from '../store/explore';
import { useStore } from '../store/store';
import type { ExploreResult, Representation } from '../worker/protocol';
import { ExploreMap, groupColour, type Tool } from './ExploreMap';
import { Thumbnail, type ImageStrip } from './Thumbnail';

const REPRESENTATIONS: [Representation, string][] = [
  ['trained', 'Trained encoder'],
  ['untrained', 'Untrained encoder'],
  ['pixels', 'Raw pixels'],
];
const REPRESENTATION_NAME: Record<Representation, string> = { trained: 'the trained encoder', untrained: 'the untrained encoder', pixels: 'raw pixels' };
/** Thresholds whose group counts are listed beside the slider. */
const COUNTED = [0.9, 0.93, 0.95, 0.97, 0.99];
const SLIDER_MIN = 0.8;
const OUTLIERS_SHOWN = 20;
const GROUPS_SHOWN = 30;
const SELECTION_SHOWN = 48;

const strip = (r: ExploreResult): ImageStrip => ({ imageSize: r.thumbnailSide, channels: r.channels, pixels: r.thumbnails });
const fileName = (path: string) => path.split('/').pop() ?? path;

function ImageChip({ result, index, note }: { result: ExploreResult; index: number; note?: string }) {
  return (
    <figure className="chip" title={result.names[index]}>
      <Thumbnail probe={strip(result)} position={index} size={48} />
      <figcaption>
        {fileName(result.names[index]!)}
        {note && <span className="hint"> {note}</span>}
      </figcaption>
    </figure>
  );
}

function Duplicates({ result }: { result: ExploreResult }) {
  const threshold = useStore((s) => s.duplicateThreshold);
  const selection = useStore((s) => s.selection);
  const { setDuplicateThreshold, select } = useStore.getState();
  // The close pairs sorted once per exploration; each move of the slider is then one pass over them.
  const pairs = useMemo(() => new NearDuplicates(result.neighbours, result.count, SLIDER_MIN), [result]);
  const groups = useMemo(() => pairs.groups(threshold), [pairs, threshold]);
  const counts = useMemo(() => COUNTED.map((t) => pairs.groupCount(t)), [pairs]);
  // The selection (every image when there is none) less all but one of each group's members in it.
  const keepOne = () => {
    const base = selection.length ? selection : Array.from({ length: result.count }, (_, i) => i);
    const inBase = new Set(base);
    const present = groups.map((g) => g.filter((i) => inBase.has(i))).filter((g) => g.length > 0);
    const kept = new Set(keepOnePerGroup(present));
    const extra = new Set(present.flat().filter((i) => !kept.has(i)));
    select(base.filter((i) => !extra.has(i)), 'replace');
  };
  return (
    <section aria-labelledby="duplicates-title" className="explore-section">
      <h3 id="duplicates-title">Near-duplicates</h3>
      <label className="field inline">
        <span>
          Similarity threshold {threshold.toFixed(3)}: {groups.length} {groups.length === 1 ? 'group' : 'groups'}
        </span>
        <input
          type="range"
          min={SLIDER_MIN}
          max={1}
          step={0.005}
          value={threshold}
          aria-label="Near-duplicate threshold"
          aria-valuetext={`${threshold.toFixed(3)}: ${groups.length} groups`}
          onChange={(e) => setDuplicateThreshold(Number(e.target.value))}
        />
      </label>
      <p className="hint">
        Groups at other thresholds: {COUNTED.map((t, i) => `${t} → ${counts[i]}`).join(' · ')}
      </p>
      <div className="controls">
        <button type="button" className="secondary" onClick={keepOne} disabled={groups.length === 0}>
          Keep one per group
        </button>
        <button type="button" className="secondary" onClick={() => select(groups.flat(), 'add')} disabled={groups.length === 0}>
          Select all duplicates
        </button>
      </div>
      <ol className="duplicate-rows" aria-label="Near-duplicate groups">
        {groups.slice(0, 50).map((members, g) => (
          <li key={members[0]}>
            <button type="button" className="secondary small" aria-label={`Select duplicate set ${g + 1} (${members.length} images)`} onClick={() => select(members, 'add')}>
              Select
            </button>
            {members.map((i) => (
              <ImageChip key={i} result={result} index={i} />
            ))}
          </li>
        ))}
      </ol>
      {groups.length > 50 && <p className="hint">and {groups.length - 50} more groups (all of them are in the table download).</p>}
    </section>
  );
}

function Outliers({ result }: { result: ExploreResult }) {
  const select = useStore((s) => s.select);
  const ranked = useMemo(() => rankOutliers(result.outlierScores).slice(0, OUTLIERS_SHOWN), [result]);
  return (
    <section aria-labelledby="outliers-title" className="explore-section">
      <h3 id="outliers-title">Outliers</h3>
      <p className="hint">Ranked by the mean cosine distance to their 5 nearest images.</p>
      <button type="button" className="secondary" onClick={() => select(ranked, 'add')}>
        Select the top {ranked.length} outliers
      </button>
      <ol className="chips" aria-label="Outliers, most outlying first">
        {ranked.map((i) => (
          <li key={i}>
            <ImageChip result={result} index={i} note={result.outlierScores[i]!.toPrecision(3)} />
          </li>
        ))}
      </ol>
    </section>
  );
}

function Groups({ result }: { result: ExploreResult }) {
  const select = useStore((s) => s.select);
  const a = result.agreement;
  const row = (r: Representation) => a?.[r] && (
    <tr key={r}>
      <th scope="row">{REPRESENTATIONS.find(([k]) => k === r)![1]}</th>
      <td>{a[r]!.ari.toFixed(3)}</td>
      <td>{(a[r]!.purity * 100).toFixed(1)} %</td>
    </tr>
  );
  return (
    <section aria-labelledby="groups-title" className="explore-section">
      <h3 id="groups-title">Groups</h3>
      <p className="hint">
        k-means with k = {result.k}
        {result.suggestion && `, suggested by the silhouette over k = ${result.suggestion.scores[0]?.k}–${result.suggestion.scores.at(-1)?.k}`}; seeded by the run's seed.
      </p>
      {a && (
        <table className="agreement">
          <caption>How well the {a.k} groups match the labels</caption>
          <thead>
            <tr>
              <th scope="col">Representation</th>
              <th scope="col">Adjusted Rand index</th>
              <th scope="col">Purity</th>
            </tr>
          </thead>
          <tbody>{(['trained', 'untrained', 'pixels'] as const).map(row)}</tbody>
        </table>
      )}
      <ol className="group-rows" aria-label="Groups">
        {result.typical.slice(0, GROUPS_SHOWN).map((members, g) => (
          <li key={g}>
            <span className="swatch" style={{ borderColor: groupColour(g) }} />
            <span className="group-size">
              Group {g + 1}: {result.sizes[g]} {result.sizes[g] === 1 ? 'image' : 'images'}
            </span>
            <button
              type="button"
              className="secondary small"
              onClick={() =>
                select(
                  Array.from(result.groups.keys()).filter((i) => result.groups[i] === g),
                  'add',
                )
              }
            >
              Select group {g + 1}
            </button>
            <span className="typical" aria-label={`Typical images of group ${g + 1}`}>
              {members.map((i) => (
                <Thumbnail key={i} probe={strip(result)} position={i} size={32} />
              ))}
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Search({ result }: { result: ExploreResult }) {
  const search = useStore((s) => s.search);
  const dataset = useStore((s) => s.dataset);
  const { searchByImage, clearSearch } = useStore.getState();
  return (
    <section aria-labelledby="search-title" className="explore-section">
      <h3 id="search-title">Search by image</h3>
      <label className="field inline">
        <span>An image from outside the set (or drop or paste one onto the map)</span>
        <input
          type="file"
          accept="image/*"
          aria-label="Image to search for"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void searchByImage(file, file.name);
            e.target.value = '';
          }}
        />
      </label>
      {search && dataset && (
        <div aria-live="polite">
          <div className="search-query">
            <Thumbnail probe={{ imageSize: dataset.imageSize, channels: dataset.channels, pixels: search.pixels }} position={0} size={48} />
            <span>{search.name}</span>
            <button type="button" className="secondary small" onClick={clearSearch}>
              Clear search
            </button>
          </div>
          {search.answer ? (
            <ol className="chips" aria-label={`Images nearest to ${search.name}`}>
              {search.answer.neighbours.map((n) => (
                <li key={n.index}>
                  <ImageChip result={result} index={n.index} note={n.similarity.toFixed(3)} />
                </li>
              ))}
            </ol>
          ) : (
            <p>Searching…</p>
          )}
        </div>
      )}
    </section>
  );
}

function Selection({ result }: { result: ExploreResult }) {
  const selection = useStore((s) => s.selection);
  const { clearSelection, downloadSelection } = useStore.getState();
  return (
    <section aria-labelledby="selection-title" className="explore-selection">
      <h3 id="selection-title">Selection</h3>
      <p aria-live="polite">
        {selection.length} {selection.length === 1 ? 'image' : 'images'} selected
      </p>
      <div className="controls">
        <button type="button" className="secondary small" onClick={clearSelection} disabled={!selection.length}>
          Clear selection
        </button>
        <button type="button" className="secondary small" onClick={downloadSelection} disabled={!selection.length}>
          Download selection (.txt)
        </button>
      </div>
      <ul className="selection-thumbs" aria-label="Selected images">
        {selection.slice(0, SELECTION_SHOWN).map((i) => (
          <li key={i} title={result.names[i]}>
            <Thumbnail probe={strip(result)} position={i} size={32} />
            <span className="visually-hidden">{result.names[i]}</span>
          </li>
        ))}
      </ul>
      {selection.length > SELECTION_SHOWN && <p className="hint">and {selection.length - SELECTION_SHOWN} more</p>}
    </section>
  );
}

function progressText(p: NonNullable<ReturnType<typeof useStore.getState>['exploring']>): string {
  if (p.stage === 'starting') return 'Starting…';
  const what = REPRESENTATION_NAME[p.representation];
  switch (p.stage) {
    case 'embedding':
      return `Embedding images with ${what}: ${p.done} of ${p.total}`;
    case 'neighbours':
      return `Finding neighbours: ${p.done} of ${p.total}`;
    case 'groups':
      return 'Grouping (k-means)…';
    case 'map':
      return 'Mapping…';
    case 'agreement':
      return `Grouping under ${what} to compare with the labels…`;
  }
}

export function ExplorePanel() {
  const settings = useStore((s) => s.exploreSettings);
  const exploring = useStore((s) => s.exploring);
  const result = useStore((s) => s.explored);
  const sortStatus = useStore((s) => s.sortStatus);
  const notice = useStore((s) => s.exploreNotice);
  const hasOriginals = useStore((s) => s.originals.size > 0);
  const ready = useStore((s) => (s.snapshots.length > 0 || s.latest !== null) && s.trainerState !== 'compiling' && s.loadingModel === null && s.resuming === null);
  const count = useStore((s) => s.dataset?.count ?? 0);
  const { setExploreSettings, startExplore, cancelExplore, downloadTable, sortIntoFolders } = useStore.getState();
  const [tool, setTool] = useState<Tool>('lasso');
  const [mode, setMode] = useState<SelectionMode>('replace');
  const maxK = Math.max(1, Math.min(MAX_GROUPS, count));
  const k = settings.k;
  const kValid = k === null || (Number.isInteger(k) && k >= 1 && k <= maxK);
  return (
    <section className="panel explore-panel" aria-labelledby="explore-title">
      <h2 id="explore-title">Explore</h2>
      <p className="hint">
        All {count} images, not only the map's: near-duplicates, outliers, groups and search, under the encoder as it is now (during a run too), the same encoder untrained, or raw pixels.
      </p>
      <div className="controls explore-controls">
        <fieldset className="radio-row">
          <legend>Representation</legend>
          {REPRESENTATIONS.map(([value, label]) => (
            <label key={value}>
              <input type="radio" name="explore-representation" value={value} checked={settings.representation === value} onChange={() => setExploreSettings({ representation: value })} /> {label}
            </label>
          ))}
        </fieldset>
        <label className="checkbox">
          <input type="checkbox" checked={k === null} onChange={(e) => setExploreSettings({ k: e.target.checked ? null : (result?.k ?? 8) })} /> Suggest the number of groups
        </label>
        {k !== null && (
          <label className="field inline">
            <span>Groups (1–{maxK})</span>
            <input type="number" min={1} max={maxK} step={1} value={Number.isFinite(k) ? k : ''} aria-invalid={!kValid || undefined} onChange={(e) => setExploreSettings({ k: e.target.value === '' ? NaN : Number(e.target.value) })} />
          </label>
        )}
        <button type="button" onClick={startExplore} disabled={!ready || exploring !== null || !kValid}>
          Explore all images
        </button>
        {exploring && (
          <button type="button" className="secondary" onClick={cancelExplore}>
            Cancel exploring
          </button>
        )}
      </div>
      {!ready && <p className="hint">Start a run (or load a model) to explore the images with its encoder.</p>}
      {notice && !exploring && <p role="status">{notice}</p>}
      {exploring && (
        <div className="progress">
          <progress aria-label="Explore progress" max={'total' in exploring ? exploring.total : 1} value={'done' in exploring ? exploring.done : 0} />
          <span>{progressText(exploring)}</span>
        </div>
      )}
      {result && (
        <>
          <p className="explore-summary">
            Explored {result.count} images under {REPRESENTATION_NAME[result.representation]}
            {result.representation !== 'pixels' && ` at step ${result.step}`} ({result.dim} values each) in {(result.timings.totalMs / 1000).toFixed(1)} s.
          </p>
          <div className="explore-grid">
            <div>
              <div className="controls map-toolbar" role="group" aria-label="Map selection">
                <fieldset className="radio-row">
                  <legend>Draw</legend>
                  {(['box', 'lasso'] as const).map((t) => (
                    <label key={t}>
                      <input type="radio" name="explore-tool" checked={tool === t} onChange={() => setTool(t)} /> {t === 'box' ? 'Box' : 'Lasso'}
                    </label>
                  ))}
                </fieldset>
                <fieldset className="radio-row">
                  <legend>Drawing</legend>
                  {(['replace', 'add', 'remove'] as const).map((m) => (
                    <label key={m}>
                      <input type="radio" name="explore-mode" checked={mode === m} onChange={() => setMode(m)} /> {m === 'replace' ? 'Replaces' : m === 'add' ? 'Adds' : 'Removes'}
                    </label>
                  ))}
                </fieldset>
              </div>
              <ExploreMap result={result} tool={tool} mode={mode} />
            </div>
            <Selection result={result} />
          </div>
          <div className="controls">
            <button type="button" className="secondary" onClick={downloadTable}>
              Download table (.zip)
            </button>
            <button type="button" className="secondary" onClick={() => void sortIntoFolders('zip')} disabled={!hasOriginals}>
              Sort into folders (.zip)
            </button>
            {folderPicker() && (
              <button type="button" className="secondary" onClick={() => void sortIntoFolders('folder')} disabled={!hasOriginals}>
                Sort into a folder…
              </button>
            )}
          </div>
          <p className="hint">
            The table: embeddings.csv (path, label, group, duplicate group, outlier score, map x and y, then the representation), embeddings.npy (float32, {result.count} × {result.dim}), paths.txt and the selection. It also goes into
            “Download embeddings”. Sorting copies your original files, one folder per group.
            {!hasOriginals && ' Sorting needs the original files: choose your folder (the sample set has none).'}
          </p>
          {sortStatus && <p aria-live="polite">{sortStatus}</p>}
          <Search result={result} />
          <Duplicates result={result} />
          <Outliers result={result} />
          <Groups result={result} />
        </>
      )}
    </section>
  );
}
