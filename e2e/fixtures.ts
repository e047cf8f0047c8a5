// What every browser test shares. Specs import `test` and `expect` (and anything else of Playwright's) from here:
// - every request of every test, the pages' and their workers', is recorded, and a test that sent one to another
//   origin fails (tabclr's promise: nothing leaves the device);
// - fixture folders made by the tests themselves: images are encoded by the browser (JPEG, PNG and WebP through
//   OffscreenCanvas), then written to a fresh temporary folder;
// - downloaded zips read back (unzipDownload).
import { chromium as playwrightChromium, test as base, expect, type Browser, type BrowserContext, type Download, type Page, type Request } from '@playwright/test';
import { unzipSync } from 'fflate';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export * from '@playwright/test';

/** A request that went, or tried to go, somewhere other than the app's own origin. */
export interface ForeignRequest {
  url: string;
  method: string;
  resourceType: string;
}

/**
 * Every request of the contexts it watches: pages, popups, dedicated workers (Chromium reports their requests on the
 * context too) and service workers, plus WebSockets. The app's own origin is fine, and so are data: and blob: URLs,
 * which never leave the browser. Requests the Content-Security-Policy refuses are never sent, so they do not show
 * here: e2e/privacy.spec.ts checks that the policy refuses nothing in a working session.
 */
export class RequestRecorder {
  private readonly found: ForeignRequest[] = [];
  private readonly watched = new WeakSet<BrowserContext>();
  /** Every URL requested, own origin included, in order. */
  readonly urls: string[] = [];

  constructor(readonly origin: string) {}

  isForeign(url: string): boolean {
    const parsed = new URL(url);
    if (parsed.protocol === 'data:' || parsed.protocol === 'blob:') return false;
    return parsed.origin !== this.origin;
  }

  watch(context: BrowserContext): void {
    if (this.watched.has(context)) return;
    this.watched.add(context);
    context.on('request', (request: Request) => this.record(request.url(), request.method(), request.resourceType()));
    const watchSockets = (page: Page) => page.on('websocket', (socket) => this.record(socket.url(), 'GET', 'websocket'));
    context.pages().forEach(watchSockets);
    context.on('page', watchSockets);
  }

  /** The foreign requests so far, forgotten: for tests that make one on purpose. */
  takeForeign(): ForeignRequest[] {
    return this.found.splice(0);
  }

  get foreign(): readonly ForeignRequest[] {
    return this.found;
  }

  private record(url: string, method: string, resourceType: string): void {
    this.urls.push(url);
    if (this.isForeign(url)) this.found.push({ url, method, resourceType });
  }
}

/** The running test's recorder: browsers a spec launches itself (through `chromium` below) report to it too. */
let current: RequestRecorder | null = null;

/** Every context of the browser is watched (newPage makes its context through newContext; watch() ignores a repeat). */
function watchBrowser(browser: Browser): Browser {
  const newContext = browser.newContext.bind(browser);
  const newPage = browser.newPage.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    current?.watch(context);
    return context;
  };
  browser.newPage = async (options) => {
    const page = await newPage(options);
    current?.watch(page.context());
    return page;
  };
  return browser;
}

/** Playwright's chromium, whose browsers' requests are recorded like the test's own browser's. */
export const chromium: typeof playwrightChromium = Object.create(playwrightChromium, {
  launch: { value: async (...args: Parameters<typeof playwrightChromium.launch>) => watchBrowser(await playwrightChromium.launch(...args)) },
});

export const test = base.extend<{ requests: RequestRecorder }>({
  requests: [
    async ({ context, baseURL }, use) => {
      const recorder = new RequestRecorder(new URL(baseURL!).origin);
      recorder.watch(context);
      current = recorder;
      try {
        await use(recorder);
      } finally {
        current = null;
      }
      const list = recorder.foreign.map((r) => `${r.method} ${r.url} (${r.resourceType})`).join('\n');
      expect(recorder.foreign, `requests to other origins than ${recorder.origin}:\n${list}`).toEqual([]);
    },
    { auto: true },
  ],
});

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

/** A downloaded zip's files, by their path in it. */
export async function unzipDownload(download: Download): Promise<Map<string, Uint8Array>> {
  return new Map(Object.entries(unzipSync(new Uint8Array(readFileSync(await download.path())))));
}

/** A PNG decoded in the page as it is stored, no colour conversion: RGBA bytes. */
export async function decodePng(page: Page, png: Uint8Array): Promise<{ rgba: Uint8Array; width: number; height: number }> {
  const decoded = await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    let binary = '';
    for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { base64: btoa(binary), width: bitmap.width, height: bitmap.height };
  }, Buffer.from(png).toString('base64'));
  return { rgba: new Uint8Array(Buffer.from(decoded.base64, 'base64')), width: decoded.width, height: decoded.height };
}

/** The first `n` sample images as the browser decodes them from the sprite: [n, 28, 28, 1] values 0–255. */
export async function samplePixels(page: Page, n: number): Promise<number[]> {
  return page.evaluate(async (count) => {
    const manifest = await (await fetch('sample/fashion-mnist/manifest.json')).json();
    const bitmap = await createImageBitmap(await (await fetch(`sample/fashion-mnist/${manifest.sprite}`)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const s = manifest.imageSize;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const x0 = (i % manifest.columns) * s;
      const y0 = Math.floor(i / manifest.columns) * s;
      for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) out.push(data[((y0 + y) * bitmap.width + x0 + x) * 4]!);
    }
    return out;
  }, n);
}

export function lossChart(page: Page) {
  return page.getByRole('img', { name: /^Loss chart/ });
}

/** The loss chart's accessible name once it shows `step` (charts redraw when on screen). */
export async function lossReading(page: Page, step: number): Promise<string> {
  await lossChart(page).scrollIntoViewIfNeeded();
  await expect(lossChart(page)).toHaveAccessibleName(new RegExp(`latest loss .* at step ${step},`));
  return (await lossChart(page).getAttribute('aria-label'))!;
}
