// Fixture folders for the browser tests, made by the tests themselves: images are encoded by the browser
// (JPEG, PNG and WebP through OffscreenCanvas), then written to a fresh temporary folder.
import type { Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface FixtureImage {
  path: string;
  width: number;
  height: number;
  /** CSS colour of the background; a diagonal stripe in its complement makes images differ in shape too. */
  colour: string;
  type: 'image/jpeg' | 'image/png' | 'image/webp';
}

/** Encodes the images in the page and returns their bytes. */
export async function encodeImages(page: Page, images: FixtureImage[]): Promise<Buffer[]> {
  const encoded = await page.evaluate(async (specs) => {
    const out: string[] = [];
    for (const spec of specs) {
      const canvas = new OffscreenCanvas(spec.width, spec.height);
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = spec.colour;
      ctx.fillRect(0, 0, spec.width, spec.height);
      ctx.strokeStyle = 'white';
      ctx.lineWidth = Math.max(2, spec.width / 8);
      ctx.beginPath();
      ctx.moveTo(0, 0);
      ctx.lineTo(spec.width, spec.height);
      ctx.stroke();
      const blob = await canvas.convertToBlob({ type: spec.type, quality: 0.9 });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = '';
      for (const b of bytes) binary += String.fromCharCode(b);
      out.push(btoa(binary));
    }
    return out;
  }, images);
  return encoded.map((b64) => Buffer.from(b64, 'base64'));
}

const made: string[] = [];

/** Removes every folder writeFolder made in this process (call from a spec's afterAll). */
export function removeFixtureFolders(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A fresh folder named `name` in a temporary directory, with the given files (path → bytes). */
export function writeFolder(name: string, files: Record<string, Buffer | string>): string {
  const parent = mkdtempSync(join(tmpdir(), 'tabclr-'));
  made.push(parent);
  const root = join(parent, name);
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return root;
}
