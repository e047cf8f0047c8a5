import { describe, expect, it } from 'vitest';
import { HOME_VIEW, MAX_STRETCH, MAX_ZOOM, alignAxes, clampView, fitCoords, hitTest, panBy, thumbnailSize, toScreen, zoomAt } from './mapView';

describe('fitCoords', () => {
  it('fits each axis to −1…1 when the shorter is at least half the longer, and flips y so that up is up', () => {
    const fitted = fitCoords(Float32Array.from([0, 0, 4, 0, 4, 3]));
    expect(Array.from(fitted)).toEqual([-1, 1, 1, 1, 1, -1]);
  });

  it('stretches a flat band\'s short axis at most MAX_STRETCH times more than its long one', () => {
    expect(MAX_STRETCH).toBe(2);
    // 4 across, 1 high: the short axis gets twice the long axis's scale, and stays centred.
    expect(Array.from(fitCoords(Float32Array.from([0, 0, 4, 0, 4, 1])))).toEqual([-1, 0.5, 1, 0.5, 1, -0.5]);
    // Nearly flat: no more than twice, not blown up to the whole square.
    expect(Array.from(fitCoords(Float32Array.from([0, 0, 4, 0.01])))).toEqual([-1, expect.closeTo(0.005, 6), 1, expect.closeTo(-0.005, 6)]);
  });

  it('puts non-finite coordinates at the centre and survives a single point', () => {
    expect(Array.from(fitCoords(Float32Array.from([NaN, 1, 2, 3, 4, 5])))).toEqual([0, 0, -1, 1, 1, -1]);
    expect(Array.from(fitCoords(Float32Array.from([3, 3])))).toEqual([0, 0]);
  });
});

describe('the view', () => {
  const size = 400;
  const margin = 20;

  it('at home, the fitted square fills the canvas inside the margin', () => {
    const screen = toScreen(Float32Array.from([-1, -1, 1, 1, 0, 0]), HOME_VIEW, size, margin);
    expect(Array.from(screen)).toEqual([20, 20, 380, 380, 200, 200]);
  });

  it('zooming about a point keeps that point under the pointer', () => {
    const fitted = Float32Array.from([0.5, -0.25]);
    const before = toScreen(fitted, HOME_VIEW, size, margin);
    const view = zoomAt(HOME_VIEW, size, margin, before[0]!, before[1]!, 3);
    const after = toScreen(fitted, view, size, margin);
    expect(view.zoom).toBe(3);
    expect(after[0]).toBeCloseTo(before[0]!, 9);
    expect(after[1]).toBeCloseTo(before[1]!, 9);
  });

  it('panning moves the content with the pointer, and stops at the edge of the data', () => {
    const zoomed = { zoom: 4, x: 0, y: 0 };
    const moved = panBy(zoomed, size, margin, 30, -10);
    const fitted = Float32Array.from([0, 0]);
    const screen = toScreen(fitted, moved, size, margin);
    expect(screen[0]).toBeCloseTo(230, 9);
    expect(screen[1]).toBeCloseTo(190, 9);
    // Far past the edge: the centre stays over the data (reach 1 − 1/zoom).
    expect(panBy(zoomed, size, margin, -1e6, 0).x).toBeCloseTo(0.75, 12);
    // At zoom 1 there is nothing to pan.
    expect(panBy(HOME_VIEW, size, margin, 50, 50)).toEqual(HOME_VIEW);
  });

  it('keeps the zoom within its range', () => {
    expect(clampView({ zoom: 0.1, x: 5, y: 5 })).toEqual(HOME_VIEW);
    expect(zoomAt(HOME_VIEW, size, margin, 200, 200, 1e6).zoom).toBe(MAX_ZOOM);
  });
});

describe('thumbnailSize', () => {
  it('is large for a few images, legible for thousands, and grows with the zoom', () => {
    expect(thumbnailSize(40, 440, 1)).toBeGreaterThanOrEqual(48);
    expect(thumbnailSize(2000, 440, 1)).toBe(16);
    expect(thumbnailSize(2000, 440, 16)).toBe(64);
    expect(thumbnailSize(40, 440, 1e4)).toBe(128);
    expect(thumbnailSize(2000, 440, 1, 1.5)).toBe(24);
  });
});

describe('hitTest', () => {
  it('finds the thumbnail under the pointer, the one drawn last when they overlap', () => {
    const screen = Float32Array.from([100, 100, 110, 100, 300, 300]);
    expect(hitTest(screen, [0, 1, 2], 20, 104, 95)).toBe(1);
    expect(hitTest(screen, [1, 0, 2], 20, 104, 95)).toBe(0);
    expect(hitTest(screen, [0, 1, 2], 20, 89, 100)).toBe(null);
    expect(hitTest(screen, [0, 1, 2], 20, 309, 291)).toBe(2);
  });
});

describe('alignAxes', () => {
  it('flips the axes that run against the previous map, and leaves the others', () => {
    const previous = Float32Array.from([0, 0, 1, 2, 2, 1, 3, 3]);
    const mirroredX = Float32Array.from([0, 0, -1, 2, -2, 1, -3, 3]);
    expect(Array.from(alignAxes(mirroredX, previous))).toEqual(Array.from(previous));
    const both = previous.map((v) => -v + 5);
    expect(Array.from(alignAxes(both, previous))).toEqual(Array.from(both.map((v) => -v)));
    expect(alignAxes(previous, previous)).toBe(previous);
  });

  it('leaves a map of other points alone', () => {
    const coords = Float32Array.from([1, 2]);
    expect(alignAxes(coords, Float32Array.from([1, 2, 3, 4]))).toBe(coords);
    expect(alignAxes(coords, null)).toBe(coords);
  });
});
