// The embedding map: every probe image drawn as a thumbnail at its point (a sprite atlas on WebGL, ./map/), class
// colours as outlines, zoom and pan by wheel, drag and keys, and a click for an image's nearest neighbours, which the
// map then highlights.
import { useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent, type RefCallback } from 'react';
import { NEIGHBOURS_SHOWN } from '../store/monitor';
import { useStore } from '../store/store';
import type { ProbeSet, SnapshotReport } from '../worker/protocol';
import { HOME_VIEW, MAX_ZOOM, alignAxes, clampView, fitCoords, hitTest, marginFor, panBy, thumbnailSize, toScreen, zoomAt, type MapView } from './map/mapView';
import { buildSpriteAtlas } from './map/spriteAtlas';
import { SpriteState, createSpriteRenderer, type SpriteRenderer } from './map/spriteRenderer';
import { labelOf, Thumbnail } from './Thumbnail';
import { similarities } from './format';

// Tableau 10: distinguishable classes, also for common colour-vision deficiencies.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
/** Outline of images without labels: a neutral frame, thinner than a class colour. */
const UNLABELLED = [140, 149, 159, 200] as const;
/** A pointer that moves less than this (CSS px) between press and release clicked rather than dragged. */
const CLICK_SLOP = 4;
/** Zoom per wheel notch (deltaY 100) and per key press. */
const WHEEL_ZOOM = 1.25;
const KEY_ZOOM = 1.5;
const KEY_PAN = 40;

function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Outline colours, RGBA bytes per image: its class's, or neutral without labels. */
function outlineColours(probe: ProbeSet, count: number): Uint8Array {
  const out = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) {
    if (probe.labels) out.set([...rgb(PALETTE[probe.labels[i]! % PALETTE.length]!), 255], 4 * i);
    else out.set(UNLABELLED, 4 * i);
  }
  return out;
}

/** The page's text colour as RGB bytes: the chosen image's outline, readable in light and dark schemes. */
function foreground(element: Element): [number, number, number] {
  const m = getComputedStyle(element).color.match(/(\d+)[,\s]+(\d+)[,\s]+(\d+)/);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [27, 31, 36];
}

/** The frame's CSS size, kept up to date. */
function useSquareSize(): [RefCallback<HTMLDivElement>, number] {
  const [size, setSize] = useState(0);
  const observer = useRef<ResizeObserver | null>(null);
  const ref = useCallback((element: HTMLDivElement | null) => {
    observer.current?.disconnect();
    observer.current = null;
    if (!element) return;
    setSize(Math.floor(element.clientWidth));
    observer.current = new ResizeObserver((entries) => {
      const width = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (width > 0) setSize(width);
    });
    observer.current.observe(element);
  }, []);
  return [ref, size];
}

function MapCanvas({ probe, snapshot }: { probe: ProbeSet; snapshot: SnapshotReport }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const renderer = useRef<SpriteRenderer | null>(null);
  const [frameRef, size] = useSquareSize();
  const [view, setView] = useState<MapView>(HOME_VIEW);
  const [scale, setScale] = useState(1);
  const [hovered, setHovered] = useState<number | null>(null);
  const query = useStore((s) => s.neighbourQuery);
  const answer = useStore((s) => s.neighbours);
  const { requestNeighbours, clearNeighbours } = useStore.getState();
  const helpId = useId();
  const count = snapshot.coords.length / 2;

  // Each map's axes take the signs that match the map drawn before it, so that a new snapshot (or one replayed on
  // the slider) moves only where the encoder changed instead of flipping over.
  const drawn = useRef<Float32Array | null>(null);
  const aligned = useMemo(() => alignAxes(snapshot.coords, drawn.current), [snapshot]);
  useEffect(() => {
    drawn.current = aligned;
  }, [aligned]);
  const fitted = useMemo(() => fitCoords(aligned), [aligned]);
  const colours = useMemo(() => outlineColours(probe, count), [probe, count]);
  const atlas = useMemo(() => buildSpriteAtlas(probe, count), [probe, count]);
  const side = size > 0 ? thumbnailSize(count, size, view.zoom, scale) : 0;
  const margin = marginFor(size, thumbnailSize(count, size, 1, scale));
  const screen = useMemo(() => toScreen(fitted, view, size, margin), [fitted, view, size, margin]);

  // Who is drawn how, and in what order: the faded first, the chosen image's neighbours, then it, then the hovered one.
  const { states, order } = useMemo(() => {
    const states = new Uint8Array(count);
    const neighbours = answer && query !== null && answer.position === query ? new Set(answer.neighbours.map((n) => n.position)) : null;
    if (query !== null && query < count) {
      states.fill(SpriteState.Dimmed);
      states[query] = SpriteState.Chosen;
      neighbours?.forEach((p) => {
        if (p < count) states[p] = SpriteState.Neighbour;
      });
    }
    if (hovered !== null && hovered < count) states[hovered] = SpriteState.Hovered;
    const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => (states[a]! === SpriteState.Dimmed ? -1 : states[a]!) - (states[b]! === SpriteState.Dimmed ? -1 : states[b]!) || a - b);
    return { states, order };
  }, [count, query, answer, hovered]);

  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    const made = createSpriteRenderer(element);
    renderer.current = made;
    return () => {
      made.dispose();
      renderer.current = null;
    };
  }, []);

  useEffect(() => {
    renderer.current?.setAtlas(atlas);
  }, [atlas]);

  // One draw per change, in the next animation frame: wheel and drag events come faster than frames.
  useEffect(() => {
    const element = canvas.current;
    const r = renderer.current;
    if (!element || !r || size === 0) return;
    const id = requestAnimationFrame(() => {
      const ratio = window.devicePixelRatio || 1;
      const pixels = Math.round(size * ratio);
      if (element.width !== pixels) element.width = element.height = pixels;
      const outline = probe.labels ? Math.max(1.5, side / 14) : 1;
      r.draw({ size, side, outline, highlight: foreground(element) }, { screen, colours, states, order });
    });
    return () => cancelAnimationFrame(id);
  }, [size, side, screen, colours, states, order, probe.labels]);

  // The wheel zooms the map, not the page: the listener must be able to prevent the page's scroll.
  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const rect = element.getBoundingClientRect();
      const factor = Math.pow(WHEEL_ZOOM, -event.deltaY / 100);
      setView((v) => zoomAt(v, rect.width, margin, event.clientX - rect.left, event.clientY - rect.top, factor));
    };
    element.addEventListener('wheel', onWheel, { passive: false });
    return () => element.removeEventListener('wheel', onWheel);
  }, [margin]);

  const drag = useRef<{ x: number; y: number; moved: number; id: number } | null>(null);
  const at = (event: PointerEvent<HTMLCanvasElement>) => {
    const rect = event.currentTarget.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  };
  const pick = (x: number, y: number) => hitTest(screen, order, side, x, y);

  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>) => {
    if (event.button !== 0) return;
    drag.current = { x: event.clientX, y: event.clientY, moved: 0, id: event.pointerId };
    event.currentTarget.setPointerCapture?.(event.pointerId);
  };
  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>) => {
    const d = drag.current;
    if (d && d.id === event.pointerId) {
      const dx = event.clientX - d.x;
      const dy = event.clientY - d.y;
      d.moved += Math.abs(dx) + Math.abs(dy);
      d.x = event.clientX;
      d.y = event.clientY;
      if (d.moved > CLICK_SLOP) {
        setHovered(null);
        setView((v) => panBy(v, size, margin, dx, dy));
        return;
      }
    }
    const p = at(event);
    const hit = pick(p.x, p.y);
    if (hit !== hovered) setHovered(hit);
  };
  const onPointerUp = (event: PointerEvent<HTMLCanvasElement>) => {
    const d = drag.current;
    drag.current = null;
    if (!d || d.id !== event.pointerId || d.moved > CLICK_SLOP) return;
    const p = at(event);
    const hit = pick(p.x, p.y);
    if (hit !== null) requestNeighbours(hit);
    else clearNeighbours();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>) => {
    const centre = size / 2;
    const move = (dx: number, dy: number) => setView((v) => panBy(v, size, margin, dx, dy));
    switch (event.key) {
      case '+':
      case '=':
        setView((v) => zoomAt(v, size, margin, centre, centre, KEY_ZOOM));
        break;
      case '-':
      case '_':
        setView((v) => zoomAt(v, size, margin, centre, centre, 1 / KEY_ZOOM));
        break;
      case '0':
        setView(HOME_VIEW);
        break;
      case 'ArrowLeft':
        move(KEY_PAN, 0);
        break;
      case 'ArrowRight':
        move(-KEY_PAN, 0);
        break;
      case 'ArrowUp':
        move(0, KEY_PAN);
        break;
      case 'ArrowDown':
        move(0, -KEY_PAN);
        break;
      case 'Escape':
        clearNeighbours();
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  const zoomBy = (factor: number) => setView((v) => clampView(zoomAt(v, size, margin, size / 2, size / 2, factor)));
  const tooltipSize = Math.max(72, Math.min(128, side * 2));
  return (
    <div className="map-area">
      <div className="controls map-toolbar" role="group" aria-label="Map view">
        <button type="button" className="secondary" aria-label="Zoom in" title="Zoom in (+)" onClick={() => zoomBy(KEY_ZOOM)} disabled={view.zoom >= MAX_ZOOM}>
          +
        </button>
        <button type="button" className="secondary" aria-label="Zoom out" title="Zoom out (−)" onClick={() => zoomBy(1 / KEY_ZOOM)} disabled={view.zoom <= 1}>
          −
        </button>
        <button type="button" className="secondary" title="Show the whole map (0)" onClick={() => setView(HOME_VIEW)} disabled={view.zoom === 1}>
          Whole map
        </button>
        <label className="field inline map-scale">
          <span>Image size</span>
          <input type="range" min={0.5} max={2.5} step={0.25} value={scale} aria-valuetext={`${side} px`} onChange={(e) => setScale(Number(e.target.value))} />
        </label>
      </div>
      <div className="map-frame" ref={frameRef}>
        <canvas
          ref={canvas}
          className="map"
          tabIndex={0}
          role="img"
          aria-label={`Embedding map: ${count} images at step ${snapshot.step}, ${snapshot.method.toUpperCase()} of the representation`}
          aria-describedby={helpId}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={() => (drag.current = null)}
          onPointerLeave={() => setHovered(null)}
          onDoubleClick={(e) => {
            const p = { x: e.nativeEvent.offsetX, y: e.nativeEvent.offsetY };
            setView((v) => zoomAt(v, size, margin, p.x, p.y, 2));
          }}
          onKeyDown={onKeyDown}
        />
        {hovered !== null && hovered < count && (
          <div
            className="map-tooltip"
            style={{
              left: Math.max(0, Math.min(screen[2 * hovered]! + side / 2 + 6, size - tooltipSize - 10)),
              top: Math.max(0, Math.min(screen[2 * hovered + 1]! + side / 2 + 6, size - tooltipSize - 30)),
            }}
          >
            <Thumbnail probe={probe} position={hovered} size={tooltipSize} />
            <span>{labelOf(probe, hovered) ?? `image ${hovered + 1}`}</span>
          </div>
        )}
      </div>
      <p id={helpId} className="hint map-help">
        Drag or arrow keys: move · wheel, + and −: zoom · 0: whole map · click an image: its {NEIGHBOURS_SHOWN} nearest neighbours (Escape clears)
      </p>
    </div>
  );
}

function Neighbours({ probe }: { probe: ProbeSet }) {
  const query = useStore((s) => s.neighbourQuery);
  const answer = useStore((s) => s.neighbours);
  const requestNeighbours = useStore((s) => s.requestNeighbours);
  if (query === null) return null;
  const name = (p: number) => `image ${p + 1}${labelOf(probe, p) ? ` (${labelOf(probe, p)})` : ''}`;
  const similarityTexts = similarities(answer?.neighbours.map((n) => n.similarity) ?? []);
  return (
    <div className="neighbours" aria-live="polite">
      <h3>Nearest neighbours of {name(query)}</h3>
      {!answer || answer.position !== query ? (
        <p>Finding neighbours…</p>
      ) : (
        <ol aria-label={`Nearest neighbours at step ${answer.step}`}>
          {answer.neighbours.map((n, i) => (
            <li key={n.position}>
              <button type="button" className="thumb-button" aria-label={`Show the neighbours of ${name(n.position)}`} onClick={() => requestNeighbours(n.position)}>
                <Thumbnail probe={probe} position={n.position} size={40} />
              </button>
              <span>
                {name(n.position)}: similarity {similarityTexts[i]}
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
    <details className="probe-gallery">
      <summary>Choose an image by number or from the first {shown}</summary>
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
    </details>
  );
}

/** The embedding map with its snapshot slider and legend, and the nearest neighbours of a chosen image. */
export function EmbeddingPanel() {
  const probe = useStore((s) => s.probe);
  const snapshots = useStore((s) => s.snapshots);
  const shown = useStore((s) => s.shownSnapshot);
  const showSnapshot = useStore((s) => s.showSnapshot);
  const umapProgress = useStore((s) => s.umapProgress);
  const requestUmap = useStore((s) => s.requestUmap);
  const training = useStore((s) => s.trainerState === 'training' || s.trainerState === 'compiling');
  if (!probe || snapshots.length === 0) {
    return (
      <section className="panel map-panel" aria-labelledby="map-title">
        <h2 id="map-title">What it learnt</h2>
        <div className="map-frame map-empty">
          <p className="hint">
            {probe && training
              ? `Mapping ${probe.indices.length} images under the untrained encoder, beside the first steps…`
              : `Start training: ${probe ? probe.indices.length : 'a fixed set of'} images appear here where the encoder puts them, updated every few steps. Images it finds alike end up together.`}
          </p>
        </div>
      </section>
    );
  }
  const index = shown ?? snapshots.length - 1;
  const snapshot = snapshots[index]!;
  return (
    <section className="panel map-panel" aria-labelledby="map-title">
      <div className="map-head">
        <h2 id="map-title">What it learnt</h2>
        <span className="hint">
          step {snapshot.step} · {snapshot.method.toUpperCase()} · {snapshot.coords.length / 2} images
        </span>
      </div>
      <MapCanvas probe={probe} snapshot={snapshot} />
      <div className="controls map-replay">
        <label className="field inline">
          <span>
            Snapshot {index + 1} of {snapshots.length}
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
        <button type="button" className="secondary" onClick={requestUmap} disabled={umapProgress !== null}>
          Map with UMAP now
        </button>
        {umapProgress !== null && <progress aria-label="UMAP progress" max={1} value={umapProgress} />}
      </div>
      {probe.labels && (
        <ul className="legend" aria-label="Classes">
          {probe.classNames.map((c, i) => (
            <li key={c}>
              <span className="swatch" style={{ borderColor: PALETTE[i % PALETTE.length] }} />
              {c}
            </li>
          ))}
        </ul>
      )}
      <Neighbours probe={probe} />
      <ProbeGallery probe={probe} />
    </section>
  );
}
