// The embedding map's geometry, pure: a snapshot's 2-D coordinates fitted to a square, the view (zoom and pan) the
// person chose on top of it, screen positions, thumbnail sizes and hit testing. No DOM, so it is tested in Node.

/** The person's view of the fitted square: the point (in fitted units, −1…1 across) at the centre, and the zoom. */
export interface MapView {
  zoom: number;
  x: number;
  y: number;
}

export const HOME_VIEW: MapView = { zoom: 1, x: 0, y: 0 };
export const MIN_ZOOM = 1;
export const MAX_ZOOM = 40;

/** Blank border (CSS px) between the fitted square and the canvas edge at zoom 1: room for half a thumbnail and a little more. */
export function marginFor(size: number, thumbnail: number): number {
  return Math.min(size / 4, thumbnail / 2 + 10);
}

/**
 * How much more the shorter axis may be stretched than the longer one. A PCA map is often a flat band (the first
 * component carries most of the spread): stretching its short axis a little spreads the images over the square instead
 * of piling them up in a strip, while distances stay roughly honest and a nearly flat axis is not blown up into
 * structure it does not have.
 */
export const MAX_STRETCH = 2;

/**
 * The coordinates scaled into −1…1: the longer axis fills it, the shorter one is stretched by at most MAX_STRETCH
 * more and centred; y is flipped so that up on the screen is up in the projection.
 */
export function fitCoords(coords: Float32Array): Float32Array {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < coords.length; i += 2) {
    const x = coords[i]!;
    const y = coords[i + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const out = new Float32Array(coords.length);
  if (!(maxX >= minX)) return out;
  const scale = 2 / Math.max(maxX - minX, maxY - minY, 1e-9);
  const axisScale = (range: number) => Math.min(scale * MAX_STRETCH, 2 / Math.max(range, 1e-9));
  const scaleX = axisScale(maxX - minX);
  const scaleY = axisScale(maxY - minY);
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  for (let i = 0; i < coords.length; i += 2) {
    const x = coords[i]!;
    const y = coords[i + 1]!;
    // A point with a non-finite coordinate (a diverged encoder) sits at the centre rather than nowhere.
    const finite = Number.isFinite(x) && Number.isFinite(y);
    out[i] = finite ? (x - cx) * scaleX + 0 : 0;
    out[i + 1] = finite ? (cy - y) * scaleY + 0 : 0;
  }
  return out;
}

/** CSS px per fitted unit. */
function unit(view: MapView, size: number, margin: number): number {
  return ((size - 2 * margin) / 2) * view.zoom;
}

/** Screen positions (CSS px from the canvas's top left) of fitted points under the view. */
export function toScreen(fitted: Float32Array, view: MapView, size: number, margin: number, out = new Float32Array(fitted.length)): Float32Array {
  const k = unit(view, size, margin);
  const half = size / 2;
  for (let i = 0; i < fitted.length; i += 2) {
    out[i] = half + (fitted[i]! - view.x) * k;
    out[i + 1] = half + (fitted[i + 1]! - view.y) * k;
  }
  return out;
}

/** The view clamped: zoom within its range, and the centre kept over the fitted square. */
export function clampView(view: MapView): MapView {
  const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom));
  const reach = 1 - 1 / zoom;
  const clamp = (v: number) => Math.min(reach, Math.max(-reach, v));
  // + 0 turns −0 into 0.
  return { zoom, x: clamp(view.x) + 0, y: clamp(view.y) + 0 };
}

/** Zoomed by `factor` about the screen point (px, py): the point under it stays under it (unless clamping moves it). */
export function zoomAt(view: MapView, size: number, margin: number, px: number, py: number, factor: number): MapView {
  const k = unit(view, size, margin);
  // The fitted point under the pointer, before and after.
  const fx = view.x + (px - size / 2) / k;
  const fy = view.y + (py - size / 2) / k;
  const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
  const k2 = unit({ ...view, zoom }, size, margin);
  return clampView({ zoom, x: fx - (px - size / 2) / k2, y: fy - (py - size / 2) / k2 });
}

/** Moved by (dx, dy) screen px: the content follows the pointer. */
export function panBy(view: MapView, size: number, margin: number, dx: number, dy: number): MapView {
  const k = unit(view, size, margin);
  return clampView({ ...view, x: view.x - dx / k, y: view.y - dy / k });
}

/**
 * Thumbnail side in CSS px: about what the points' share of the map allows at zoom 1 (large for a few images, small
 * for thousands, never under `min` so they stay legible), growing with the square root of the zoom so that zooming
 * in both spreads the images apart and shows them larger; `scale` is the person's own size setting.
 */
export function thumbnailSize(count: number, size: number, zoom: number, scale = 1, min = 16, max = 128): number {
  const share = (0.9 * size) / Math.sqrt(Math.max(1, count));
  const base = Math.min(64, Math.max(min, share));
  return Math.round(Math.min(max, Math.max(min, base * Math.sqrt(zoom) * scale)));
}

/**
 * The point whose thumbnail (a square of side `side` centred on it) lies under (x, y), the one drawn on top when they
 * overlap: `order` lists points in drawing order, last on top. Null over empty space.
 */
export function hitTest(screen: Float32Array, order: ArrayLike<number>, side: number, x: number, y: number): number | null {
  const half = side / 2;
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    if (Math.abs(screen[2 * i]! - x) <= half && Math.abs(screen[2 * i + 1]! - y) <= half) return i;
  }
  return null;
}

/**
 * The coordinates with each axis's sign flipped where that brings them closer to `reference` (the same points as
 * drawn before): a projection's axes have no sign of their own (PCA's eigenvectors, UMAP's layout), so two maps of
 * nearly the same representation can come out mirrored. Aligned, a new map moves only where the encoder changed.
 * Returns the input when the point counts differ.
 */
export function alignAxes(coords: Float32Array, reference: Float32Array | null): Float32Array {
  if (!reference || reference.length !== coords.length || coords.length === 0) return coords;
  const n = coords.length / 2;
  const mean = (values: Float32Array, axis: number) => {
    let sum = 0;
    for (let i = axis; i < values.length; i += 2) sum += values[i]!;
    return sum / n;
  };
  const signs = [0, 1].map((axis) => {
    const a = mean(coords, axis);
    const b = mean(reference, axis);
    let dot = 0;
    for (let i = axis; i < coords.length; i += 2) dot += (coords[i]! - a) * (reference[i]! - b);
    return dot < 0 ? -1 : 1;
  });
  if (signs[0] === 1 && signs[1] === 1) return coords;
  return coords.map((v, i) => v * signs[i % 2]! + 0);
}
