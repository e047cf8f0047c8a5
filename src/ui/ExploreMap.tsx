// The whole folder on a map: one dot per image at its PCA position, coloured by its k-means group, selected images
// ringed, search results and the keyboard cursor marked. Box and lasso selection with the mouse (Shift adds, Alt
// removes), and the same from the keyboard; an image dropped or pasted onto it is searched for.
import { useEffect, useId, useMemo, useRef, useState, type ClipboardEvent, type DragEvent, type KeyboardEvent, type PointerEvent } from 'react';
import type { SelectionMode } from '../store/explore';
import { useStore } from '../store/store';
import type { ExploreResult } from '../worker/protocol';
import { fitCoords } from './map/mapView';
import { nearestPoint, pointsInBox, pointsInLasso } from './map/selection';

// Tableau 10, then the same hues darker: groups beyond ten stay apart.
export const GROUP_PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#2c4a6b', '#9c5a1a', '#8f3436', '#46706c', '#365f30', '#8d7a2b', '#6a4a61', '#995f64', '#5e473a', '#706a67'];
export const groupColour = (g: number) => GROUP_PALETTE[g % GROUP_PALETTE.length]!;

/** Canvas side in CSS px. */
const SIZE = 420;
const MARGIN = 10;
const KEY_STEP = 8;

export type Tool = 'box' | 'lasso';

function modeOf(event: { shiftKey: boolean; altKey: boolean }, fallback: SelectionMode): SelectionMode {
  return event.altKey ? 'remove' : event.shiftKey ? 'add' : fallback;
}

export function ExploreMap({ result, tool, mode }: { result: ExploreResult; tool: Tool; mode: SelectionMode }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const selection = useStore((s) => s.selection);
  const search = useStore((s) => s.search);
  const searchNotice = useStore((s) => s.searchNotice);
  const { select, searchByImage, refuseSearch } = useStore.getState();
  const helpId = useId();
  const screen = useMemo(() => {
    const fitted = fitCoords(result.coords);
    const half = (SIZE - 2 * MARGIN) / 2;
    return fitted.map((v) => MARGIN + (v + 1) * half);
  }, [result]);
  const [drawing, setDrawing] = useState<number[] | null>(null);
  const [cursor, setCursor] = useState<{ x: number; y: number } | null>(null);
  /** The keyboard's box corner or lasso vertices, from Space / L. */
  const [keyed, setKeyed] = useState<number[]>([]);
  const [dragOver, setDragOver] = useState(false);
  const found = useMemo(() => new Set(search?.answer?.neighbours.map((n) => n.index) ?? []), [search]);

  useEffect(() => {
    const element = canvas.current;
    const ctx = element?.getContext('2d');
    if (!element || !ctx) return;
    const ratio = window.devicePixelRatio || 1;
    if (element.width !== SIZE * ratio) element.width = element.height = SIZE * ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const style = getComputedStyle(element);
    ctx.clearRect(0, 0, SIZE, SIZE);
    const selected = new Set(selection);
    const radius = result.count > 2000 ? 2 : 3.5;
    for (let i = 0; i < result.count; i++) {
      ctx.fillStyle = groupColour(result.groups[i]!);
      ctx.globalAlpha = selected.size && !selected.has(i) ? 0.45 : 1;
      ctx.beginPath();
      ctx.arc(screen[2 * i]!, screen[2 * i + 1]!, radius, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = style.color;
    ctx.lineWidth = 1.5;
    for (const i of selected) {
      ctx.beginPath();
      ctx.arc(screen[2 * i]!, screen[2 * i + 1]!, radius + 2.5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.strokeStyle = '#d62728';
    ctx.lineWidth = 2;
    // On whole pixels, so that each box's 2 px edges are solid red rather than blended into the white around them.
    const half = Math.round(radius + 4);
    for (const i of found) {
      ctx.strokeRect(Math.round(screen[2 * i]!) - half, Math.round(screen[2 * i + 1]!) - half, 2 * half, 2 * half);
    }
    const path = drawing ?? (keyed.length && cursor ? [...keyed, cursor.x, cursor.y] : null);
    if (path && path.length >= 4) {
      ctx.strokeStyle = style.color;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      if (tool === 'box') {
        const [x0, y0] = [path[0]!, path[1]!];
        const [x1, y1] = [path.at(-2)!, path.at(-1)!];
        ctx.rect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      } else {
        ctx.moveTo(path[0]!, path[1]!);
        for (let p = 2; p < path.length; p += 2) ctx.lineTo(path[p]!, path[p + 1]!);
        ctx.closePath();
      }
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (cursor) {
      ctx.strokeStyle = style.color;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(cursor.x - 8, cursor.y);
      ctx.lineTo(cursor.x + 8, cursor.y);
      ctx.moveTo(cursor.x, cursor.y - 8);
      ctx.lineTo(cursor.x, cursor.y + 8);
      ctx.stroke();
    }
  }, [result, screen, selection, found, drawing, keyed, cursor, tool]);

  const at = (event: { clientX: number; clientY: number; currentTarget: Element }) => {
    const rect = event.currentTarget.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * SIZE) / rect.width, y: ((event.clientY - rect.top) * SIZE) / rect.height };
  };
  const drag = useRef<{ id: number; mode: SelectionMode } | null>(null);
  const finish = (path: number[], chosen: SelectionMode) => {
    const moved = Math.hypot(path.at(-2)! - path[0]!, path.at(-1)! - path[1]!);
    if (path.length <= 4 && moved < 3) {
      // A click: the image under it, or nothing.
      const hit = nearestPoint(screen, path[0]!, path[1]!, 6);
      select(hit === null ? [] : [hit], hit === null && chosen === 'replace' ? 'replace' : chosen);
      return;
    }
    const inside = tool === 'box' ? pointsInBox(screen, path[0]!, path[1]!, path.at(-2)!, path.at(-1)!) : pointsInLasso(screen, path);
    select(inside, chosen);
  };
  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>) => {
    if (event.button !== 0) return;
    const p = at(event);
    drag.current = { id: event.pointerId, mode: modeOf(event, mode) };
    event.currentTarget.setPointerCapture?.(event.pointerId);
    setDrawing([p.x, p.y]);
  };
  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>) => {
    if (!drag.current || drag.current.id !== event.pointerId) return;
    const p = at(event);
    setDrawing((d) => (d ? (tool === 'box' ? [d[0]!, d[1]!, p.x, p.y] : [...d, p.x, p.y]) : d));
  };
  const onPointerUp = (event: PointerEvent<HTMLCanvasElement>) => {
    const d = drag.current;
    drag.current = null;
    if (!d || d.id !== event.pointerId || !drawing) return;
    const p = at(event);
    const path = tool === 'box' ? [drawing[0]!, drawing[1]!, p.x, p.y] : [...drawing, p.x, p.y];
    setDrawing(null);
    finish(path, d.mode);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>) => {
    const step = event.shiftKey ? KEY_STEP * 5 : KEY_STEP;
    const c = cursor ?? { x: SIZE / 2, y: SIZE / 2 };
    const move = (dx: number, dy: number) => setCursor({ x: Math.min(SIZE, Math.max(0, c.x + dx)), y: Math.min(SIZE, Math.max(0, c.y + dy)) });
    switch (event.key) {
      case 'ArrowLeft':
        move(-step, 0);
        break;
      case 'ArrowRight':
        move(step, 0);
        break;
      case 'ArrowUp':
        move(0, -step);
        break;
      case 'ArrowDown':
        move(0, step);
        break;
      case ' ':
      case 'Enter':
        // Box: the first press sets a corner, the second selects. Lasso: each press adds a corner, Enter closes it.
        if (tool === 'box') {
          if (keyed.length === 0) setKeyed([c.x, c.y]);
          else {
            finish([keyed[0]!, keyed[1]!, c.x, c.y], mode);
            setKeyed([]);
          }
        } else if (event.key === ' ') setKeyed([...keyed, c.x, c.y]);
        else {
          finish([...keyed, c.x, c.y], mode);
          setKeyed([]);
        }
        setCursor(c);
        break;
      case 'Escape':
        setKeyed([]);
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  // A file of another type is refused by its type; one of no type (a format the system does not name) is tried, and
  // refused by the decoder if it is not an image. Either way the search and the map stay as they were.
  const takeFiles = (files: File[], how: 'dropped' | 'pasted') => {
    const file = files.find((f) => f.type === '' || f.type.startsWith('image/'));
    if (file) void searchByImage(file, file.name || `the ${how} image`);
    else if (files.length) refuseSearch(`${files[0]!.name || `The ${how} file`} is not an image (${files[0]!.type}): drop or paste a JPEG, PNG, WebP, GIF or AVIF file to search for it.`);
    else refuseSearch(`Nothing ${how} was a file: drop or paste an image file to search for it.`);
  };
  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragOver(false);
    takeFiles([...event.dataTransfer.files], 'dropped');
  };
  const onPaste = (event: ClipboardEvent<HTMLDivElement>) => {
    // Text pasted onto the map means nothing to it: only files are taken (and refused if none is an image).
    if (event.clipboardData.files.length === 0) return;
    event.preventDefault();
    takeFiles([...event.clipboardData.files], 'pasted');
  };

  return (
    <div
      className={`explore-map-frame${dragOver ? ' drag-over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragOver(true);
      }}
      onDragLeave={() => setDragOver(false)}
      onDrop={onDrop}
      onPaste={onPaste}
    >
      <canvas
        ref={canvas}
        className="explore-map"
        style={{ width: SIZE, height: SIZE }}
        tabIndex={0}
        role="img"
        aria-label={`Map of all ${result.count} images, coloured by group: ${selection.length} selected`}
        aria-describedby={helpId}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => {
          drag.current = null;
          setDrawing(null);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => setCursor(null)}
      />
      {searchNotice && (
        <p role="alert" className="search-notice">
          {searchNotice}
        </p>
      )}
      <p id={helpId} className="hint map-help">
        Drag: {tool === 'box' ? 'a box' : 'a lasso'} ({mode === 'replace' ? 'replaces the selection' : mode === 'add' ? 'adds to it' : 'removes from it'}; Shift adds, Alt removes) · click an image to pick it · keys: arrows move the cross,{' '}
        {tool === 'box' ? 'Space or Enter sets a corner, again selects the box' : 'Space adds a corner, Enter closes the lasso'}, Escape drops it · drop or paste an image here to search for it
      </p>
    </div>
  );
}
