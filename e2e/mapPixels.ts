// What the embedding map shows, read from a screenshot of it (what the person sees, whatever draws it: WebGL keeps no
// pixels to read back): where content starts, and whether it is images rather than dots.
import type { Locator, Page } from '@playwright/test';

export interface MapPixels {
  width: number;
  height: number;
  /** The first pixel (in reading order) that is not the background, in CSS px from the element's top left. */
  firstContent: { x: number; y: number } | null;
  /**
   * 4 × 4 windows made only of gray (image) pixels whose luminance varies (std > 12): texture inside thumbnails.
   * Flat dots, outlines and anti-aliased edges have none.
   */
  texturedWindows: number;
  /** Distinct luminance values among gray, non-background pixels. */
  grayLevels: number;
}

/** Screenshots the element and analyses it in the page (the browser decodes the PNG). */
export async function mapPixels(page: Page, element: Locator): Promise<MapPixels> {
  const png = (await element.screenshot()).toString('base64');
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, width, height).data;
    // The background is the colour most pixels have.
    const counts = new Map<number, number>();
    for (let i = 0; i < data.length; i += 4) {
      const key = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const background = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const at = (x: number, y: number) => (y * width + x) * 4;
    const isBackground = (i: number) => ((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!) === background;
    const isGray = (i: number) => Math.abs(data[i]! - data[i + 1]!) < 8 && Math.abs(data[i + 1]! - data[i + 2]!) < 8;
    const luminance = (i: number) => 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    // Skip the element's border and rounded corners (the map keeps its images 10 px in from its edges).
    const edge = 8;
    let firstContent: { x: number; y: number } | null = null;
    const levels = new Set<number>();
    for (let y = edge; y < height - edge; y++) {
      for (let x = edge; x < width - edge; x++) {
        const i = at(x, y);
        if (isBackground(i)) continue;
        firstContent ??= { x, y };
        if (isGray(i)) levels.add(Math.round(luminance(i)));
      }
    }
    let texturedWindows = 0;
    for (let y = edge; y + 4 < height - edge; y += 4) {
      for (let x = edge; x + 4 < width - edge; x += 4) {
        let sum = 0;
        let squares = 0;
        let ok = true;
        for (let dy = 0; dy < 4 && ok; dy++) {
          for (let dx = 0; dx < 4; dx++) {
            const i = at(x + dx, y + dy);
            if (isBackground(i) || !isGray(i)) {
              ok = false;
              break;
            }
            const l = luminance(i);
            sum += l;
            squares += l * l;
          }
        }
        if (ok && Math.sqrt(Math.max(0, squares / 16 - (sum / 16) ** 2)) > 12) texturedWindows += 1;
      }
    }
    return { width, height, firstContent, texturedWindows, grayLevels: levels.size };
  }, png);
}
