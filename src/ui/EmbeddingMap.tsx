import { useEffect, useMemo, useRef, useState } from 'react';
import { NEIGHBOURS_SHOWN } from '../store/monitor';
import { useStore } from '../store/store';
import type { ProbeSet, SnapshotReport } from '../worker/protocol';
import { percent } from './format';
import { labelOf, Thumbnail } from './Thumbnail';

// Tableau 10: distinguishable classes, also for common colour-vision deficiencies.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const UNLABELLED = '#4e79a7';
const MAP_SIZE = 360;
const MARGIN = 12;
/** Pointer distance (CSS px) within which a point counts as hovered. */
const HIT_RADIUS = 7;

function colourOf(probe: ProbeSet, position: number): string {
  return probe.labels ? PALETTE[probe.labels[position]! % PALETTE.length]! : UNLABELLED;
}

/** Canvas positions of the snapshot's 2-D coordinates, scaled to fill the map. */
function layout(snapshot: SnapshotReport): Float32Array {
  const { coords } = snapshot;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < coords.length; i += 2) {
    minX = Math.min(minX, coords[i]!);
    maxX = Math.max(maxX, coords[i]!);
    minY = Math.min(minY, coords[i + 1]!);
    maxY = Math.max(maxY, coords[i + 1]!);
  }
  // One scale for both axes keeps distances honest; the shorter axis is centred.
  const scale = (MAP_SIZE - 2 * MARGIN) / Math.max(maxX - minX, maxY - minY, 1e-9);
  const offsetX = MARGIN + (MAP_SIZE - 2 * MARGIN - (maxX - minX) * scale) / 2;
  const offsetY = MARGIN + (MAP_SIZE - 2 * MARGIN - (maxY - minY) * scale) / 2;
  const out = new Float32Array(coords.length);
  for (let i = 0; i < coords.length; i += 2) {
    out[i] = offsetX + (coords[i]! - minX) * scale;
    out[i + 1] = MAP_SIZE - offsetY - (coords[i + 1]! - minY) * scale;
  }
  return out;
}

function nearestPoint(points: Float32Array, x: number, y: number): number | null {
  let best: number | null = null;
  let bestDistance = HIT_RADIUS * HIT_RADIUS;
  for (let i = 0; i < points.length; i += 2) {
    const d = (points[i]! - x) ** 2 + (points[i + 1]! - y) ** 2;
    if (d <= bestDistance) {
      bestDistance = d;
      best = i / 2;
    }
  }
  return best;
}

function MapCanvas({ probe, snapshot }: { probe: ProbeSet; snapshot: SnapshotReport }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const points = useMemo(() => layout(snapshot), [snapshot]);
  const [hovered, setHovered] = useState<number | null>(null);
  const query = useStore((s) => s.neighbourQuery);
  const requestNeighbours = useStore((s) => s.requestNeighbours);

  useEffect(() => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
    for (let i = 0; i < points.length / 2; i++) {
      ctx.fillStyle = colourOf(probe, i);
      ctx.globalAlpha = 0.8;
      ctx.beginPath();
      ctx.arc(points[2 * i]!, points[2 * i + 1]!, i === query ? 6 : 3.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }, [points, probe, query]);

  const pick = (event: React.MouseEvent<HTMLCanvasElement>) => {
    const rect = event.currentTarget.getBoundingClientRect();
    return nearestPoint(points, event.clientX - rect.left, event.clientY - rect.top);
  };
  const n = points.length / 2;
  return (
    <div className="map-wrap">
      <canvas
        ref={canvas}
        className="map"
        width={MAP_SIZE * (window.devicePixelRatio || 1)}
        height={MAP_SIZE * (window.devicePixelRatio || 1)}
        style={{ width: MAP_SIZE, height: MAP_SIZE }}
        role="img"
        aria-label={`Embedding map: ${n} images at step ${snapshot.step}, ${snapshot.method.toUpperCase()} of the representation`}
        onPointerMove={(e) => setHovered(pick(e))}
        onPointerLeave={() => setHovered(null)}
        onClick={(e) => {
          const hit = pick(e);
          if (hit !== null) requestNeighbours(hit);
        }}
      />
      {hovered !== null && (
        <div className="map-tooltip" style={{ left: Math.min(points[2 * hovered]! + 10, MAP_SIZE - 80), top: points[2 * hovered + 1]! + 10 }}>
          <Thumbnail probe={probe} position={hovered} size={64} />
          <span>{labelOf(probe, hovered) ?? `image ${hovered + 1}`}</span>
        </div>
      )}
    </div>
  );
}

function Neighbours({ probe }: { probe: ProbeSet }) {
  const query = useStore((s) => s.neighbourQuery);
  const answer = useStore((s) => s.neighbours);
  if (query === null) return <p className="hint">Click a point or an image to see its nearest neighbours under the current encoder.</p>;
  const name = (p: number) => `image ${p + 1}${labelOf(probe, p) ? ` (${labelOf(probe, p)})` : ''}`;
  return (
    <div className="neighbours" aria-live="polite">
      <h3>Nearest neighbours of {name(query)}</h3>
      {!answer || answer.position !== query ? (
        <p>Finding neighbours…</p>
      ) : (
        <ol aria-label={`Nearest neighbours at step ${answer.step}`}>
          {answer.neighbours.map((n) => (
            <li key={n.position}>
              <Thumbnail probe={probe} position={n.position} />
              <span>
                {name(n.position)}: similarity {n.similarity.toFixed(3)}
              </span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/** The probe images as buttons (the first few) and a number field (any of them): the keyboard way to neighbours. */
function ProbeGallery({ probe }: { probe: ProbeSet }) {
  const requestNeighbours = useStore((s) => s.requestNeighbours);
  const shown = Math.min(24, probe.indices.length);
  const total = probe.indices.length;
  const [chosen, setChosen] = useState(1);
  const valid = Number.isInteger(chosen) && chosen >= 1 && chosen <= total;
  return (
    <>
      <form
        className="controls image-picker"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) requestNeighbours(chosen - 1);
        }}
      >
        <label className="field inline">
          <span>Image number (1–{total})</span>
          <input type="number" min={1} max={total} step={1} value={Number.isFinite(chosen) ? chosen : ''} aria-invalid={!valid || undefined} onChange={(e) => setChosen(e.target.value === '' ? NaN : Number(e.target.value))} />
        </label>
        <button type="submit" className="secondary" disabled={!valid}>
          Show its neighbours
        </button>
      </form>
      <div className="gallery" role="group" aria-label="Probe images">
        {Array.from({ length: shown }, (_, p) => (
          <button key={p} type="button" className="thumb-button" aria-label={`Show the ${NEIGHBOURS_SHOWN} nearest neighbours of image ${p + 1}${labelOf(probe, p) ? ` (${labelOf(probe, p)})` : ''}`} onClick={() => requestNeighbours(p)}>
            <Thumbnail probe={probe} position={p} size={40} />
          </button>
        ))}
      </div>
    </>
  );
}

/** The embedding map with its snapshot slider, kNN accuracy against its baselines, and nearest neighbours. */
export function EmbeddingPanel() {
  const probe = useStore((s) => s.probe);
  const snapshots = useStore((s) => s.snapshots);
  const shown = useStore((s) => s.shownSnapshot);
  const showSnapshot = useStore((s) => s.showSnapshot);
  const baselines = useStore((s) => s.baselines);
  const umapProgress = useStore((s) => s.umapProgress);
  const requestUmap = useStore((s) => s.requestUmap);
  if (!probe || snapshots.length === 0) {
    return (
      <section className="panel" aria-labelledby="map-title">
        <h2 id="map-title">What it learnt</h2>
        <p className="hint">Start training: a map of {probe ? probe.indices.length : 'a fixed set of'} images under the encoder appears here, updated every few steps.</p>
      </section>
    );
  }
  const index = shown ?? snapshots.length - 1;
  const snapshot = snapshots[index]!;
  return (
    <section className="panel wide" aria-labelledby="map-title">
      <h2 id="map-title">What it learnt</h2>
      {snapshot.knnAccuracy !== null && baselines && (
        <p className="knn" aria-label="kNN accuracy">
          kNN accuracy at step {snapshot.step}: <strong>{percent(snapshot.knnAccuracy, 1)}</strong> (untrained encoder {percent(baselines.randomInit, 1)}, raw
          pixels {percent(baselines.rawPixels, 1)})
        </p>
      )}
      <div className="map-row">
        <MapCanvas probe={probe} snapshot={snapshot} />
        <div className="map-side">
          <label className="field">
            <span>
              Snapshot {index + 1} of {snapshots.length}: step {snapshot.step}
            </span>
            <input
              type="range"
              min={0}
              max={snapshots.length - 1}
              value={index}
              aria-label="Snapshot"
              aria-valuetext={`step ${snapshot.step}, ${snapshot.method.toUpperCase()}`}
              onChange={(e) => {
                const value = Number(e.target.value);
                showSnapshot(value === snapshots.length - 1 ? null : value);
              }}
            />
          </label>
          <div className="controls">
            <button type="button" className="secondary" onClick={requestUmap} disabled={umapProgress !== null}>
              Map with UMAP now
            </button>
            {umapProgress !== null && <progress aria-label="UMAP progress" max={1} value={umapProgress} />}
          </div>
          {probe.labels && (
            <ul className="legend" aria-label="Classes">
              {probe.classNames.map((c, i) => (
                <li key={c}>
                  <span className="swatch" style={{ background: PALETTE[i % PALETTE.length] }} />
                  {c}
                </li>
              ))}
            </ul>
          )}
          <Neighbours probe={probe} />
        </div>
      </div>
      <ProbeGallery probe={probe} />
    </section>
  );
}
