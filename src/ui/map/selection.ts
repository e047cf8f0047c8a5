// Choosing points on a map, pure: a box or a lasso (a closed polygon) in screen coordinates, and the points inside.

/** Indices of the points (x, y interleaved) inside the box spanned by two corners, edges included. */
export function pointsInBox(screen: Float32Array, x0: number, y0: number, x1: number, y1: number): number[] {
  const [left, right] = x0 <= x1 ? [x0, x1] : [x1, x0];
  const [top, bottom] = y0 <= y1 ? [y0, y1] : [y1, y0];
  const out: number[] = [];
  for (let i = 0; i < screen.length / 2; i++) {
    const x = screen[2 * i]!;
    const y = screen[2 * i + 1]!;
    if (x >= left && x <= right && y >= top && y <= bottom) out.push(i);
  }
  return out;
}

/** Whether (x, y) is inside the polygon (vertices x, y interleaved), by the even-odd rule. */
export function insidePolygon(polygon: number[], x: number, y: number): boolean {
  let inside = false;
  const n = polygon.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = polygon[2 * i]!;
    const yi = polygon[2 * i + 1]!;
    const xj = polygon[2 * j]!;
    const yj = polygon[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Indices of the points inside a lasso (at least three vertices; fewer select nothing). */
export function pointsInLasso(screen: Float32Array, polygon: number[]): number[] {
  if (polygon.length < 6) return [];
  let left = Infinity;
  let right = -Infinity;
  let top = Infinity;
  let bottom = -Infinity;
  for (let i = 0; i < polygon.length; i += 2) {
    left = Math.min(left, polygon[i]!);
    right = Math.max(right, polygon[i]!);
    top = Math.min(top, polygon[i + 1]!);
    bottom = Math.max(bottom, polygon[i + 1]!);
  }
  // The bounding box first: most points of a large map are outside it.
  return pointsInBox(screen, left, top, right, bottom).filter((i) => insidePolygon(polygon, screen[2 * i]!, screen[2 * i + 1]!));
}

/** The point nearest (x, y) within `radius`, or null. */
export function nearestPoint(screen: Float32Array, x: number, y: number, radius: number): number | null {
  let best: number | null = null;
  let bestDistance = radius * radius;
  for (let i = 0; i < screen.length / 2; i++) {
    const d = (screen[2 * i]! - x) ** 2 + (screen[2 * i + 1]! - y) ** 2;
    if (d <= bestDistance) {
      bestDistance = d;
      best = i;
    }
  }
  return best;
}
