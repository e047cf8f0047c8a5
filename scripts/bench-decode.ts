// Decode and import benchmark: how fast the built app turns a folder of photos into training images, next to how
// fast the same browser decodes the same files with nothing but createImageBitmap.
//
//   npm run build                                   # once: this script serves dist/ (or TABCLR_DIST), it builds nothing
//   npm run bench:decode -- [--count N] [--size S] [--width W] [--height H] [--json]
//
// It serves dist/ with `vite preview` on port 4174, launches headless Chromium with the browser tests' flags
// (e2e/browser.ts), has the browser encode N photo-like W × H JPEGs (640 × 480 unless told) into a temporary folder,
// then measures:
//   raw_decode          createImageBitmap(blob) at full size, then close(): 4 in flight (as src/data/importer.ts),
//                       in a dedicated worker, over the same N files' bytes
//   raw_decode_resize   the same with { resizeWidth: S, resizeHeight: S }
//   app_import          the app importing the folder through "Choose folder" after "Clear image cache"
//   app_cached_import   the same folder again after a reload: everything comes from the decode cache
// App rates are files/s from wall time (choosing the folder → the "Imported …" text) and from the page's own
// elapsed figure. It asserts no time: figures depend on the machine, and mean most as ratios within one run.
import { type Page } from '@playwright/test';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFolder } from '../e2e/fixtures';
import { trainingSize } from './lib/app';
import { wholeNumber } from './lib/args';
import { createBench, machine, parseArgs, print, report, requireDist, round, type RunStart } from './lib/bench';
import { median } from './lib/stats';

const PORT = 4174;
/** Decodes in flight at once: the importer's default concurrency (src/data/importer.ts). */
const CONCURRENCY = 4;
const FOLDER = 'bench-photos';
const RAW_REPEATS = 5;
const USAGE = 'usage: npm run bench:decode -- [--count N] [--size S] [--width W] [--height H] [--json]';

const options = parseArgs(process.argv.slice(2), {
  name: 'bench:decode',
  usage: USAGE,
  defaults: { count: 200, size: 32, width: 640, height: 480 },
  values: {
    // The app needs at least 2 images.
    count: wholeNumber(2, 5000),
    size: trainingSize,
    // The photos' size: 640 × 480 by default; a phone's 4032 × 3024 shows what resizing a large photo costs.
    width: wholeNumber(16, 8192),
    height: wholeNumber(16, 8192),
  },
});
const WIDTH = options.width;
const HEIGHT = options.height;
requireDist('bench:decode');

// The preview server, the browser and the temporary folder go away on success, on error and on Ctrl-C.
const harness = createBench('bench:decode', PORT);
const BASE_URL = harness.baseUrl;
const log = harness.log;

// ---------------------------------------------------------------------------------------------------------------
// The folder: photo-like JPEGs encoded by the browser (seeded, so every run gets the same files).

async function encodePhotos(page: Page, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const BATCH = 20;
  for (let start = 0; start < count; start += BATCH) {
    const seeds = Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => start + i + 1);
    const encoded = await page.evaluate(
      async ({ seeds, width, height }) => {
        // mulberry32: a small seeded PRNG.
        const prng = (seed: number) => () => {
          seed = (seed + 0x6d2b79f5) | 0;
          let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
          return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
        };
        const results: string[] = [];
        for (const seed of seeds) {
          const rand = prng(seed * 7919);
          const between = (a: number, b: number) => a + (b - a) * rand();
          const colour = (alpha = 1) => `hsla(${between(0, 360)}, ${between(15, 85)}%, ${between(15, 85)}%, ${alpha})`;
          const canvas = new OffscreenCanvas(width, height);
          // A CPU canvas: a GPU one (software GL here) makes the blur filters and the pixel read-back very slow.
          const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
          // Sky-to-ground gradient at a random angle.
          const angle = between(0, Math.PI);
          const dx = Math.cos(angle) * width;
          const dy = Math.sin(angle) * height;
          const background = ctx.createLinearGradient(width / 2 - dx / 2, height / 2 - dy / 2, width / 2 + dx / 2, height / 2 + dy / 2);
          background.addColorStop(0, colour());
          background.addColorStop(between(0.3, 0.7), colour());
          background.addColorStop(1, colour());
          ctx.fillStyle = background;
          ctx.fillRect(0, 0, width, height);
          // A soft light source.
          const lx = between(0, width);
          const ly = between(0, height);
          const light = ctx.createRadialGradient(lx, ly, 0, lx, ly, between(80, 400));
          light.addColorStop(0, colour(0.8));
          light.addColorStop(1, 'rgba(255, 255, 255, 0)');
          ctx.fillStyle = light;
          ctx.fillRect(0, 0, width, height);
          // Objects: blurred and sharp ellipses, rectangles and polygons.
          const shapes = 6 + Math.floor(rand() * 14);
          for (let s = 0; s < shapes; s++) {
            ctx.filter = rand() < 0.5 ? `blur(${between(1, 12).toFixed(1)}px)` : 'none';
            ctx.fillStyle = colour(between(0.4, 1));
            ctx.beginPath();
            const kind = rand();
            const x = between(-50, width);
            const y = between(-50, height);
            if (kind < 0.4) ctx.ellipse(x, y, between(10, 160), between(10, 160), between(0, Math.PI), 0, 2 * Math.PI);
            else if (kind < 0.7) ctx.rect(x, y, between(10, 250), between(10, 250));
            else {
              const corners = 3 + Math.floor(rand() * 5);
              for (let c = 0; c < corners; c++) ctx.lineTo(x + between(-150, 150), y + between(-150, 150));
              ctx.closePath();
            }
            ctx.fill();
            if (rand() < 0.3) {
              ctx.strokeStyle = colour();
              ctx.lineWidth = between(1, 6);
              ctx.stroke();
            }
          }
          ctx.filter = 'none';
          // Sensor noise and texture, so that the JPEG has fine detail to encode, as photos do.
          const image = ctx.getImageData(0, 0, width, height);
          const px = image.data;
          const amplitude = between(6, 14);
          const grain = prng(seed * 104729);
          for (let p = 0; p < px.length; p += 4) {
            const n = (grain() + grain() + grain() - 1.5) * amplitude;
            px[p] = px[p]! + n;
            px[p + 1] = px[p + 1]! + n * 0.9;
            px[p + 2] = px[p + 2]! + n * 1.1;
          }
          ctx.putImageData(image, 0, 0);
          const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
          const bytes = new Uint8Array(await blob.arrayBuffer());
          let binary = '';
          for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          results.push(btoa(binary));
        }
        return results;
      },
      { seeds, width: WIDTH, height: HEIGHT },
    );
    out.push(...encoded.map((b64) => Buffer.from(b64, 'base64')));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The raw baseline: createImageBitmap in a dedicated (Blob-URL) worker, CONCURRENCY in flight.

/** The worker's source: decodes the given files `repeats` times (after a short warm-up) and returns each time in ms. */
const RAW_WORKER = `
onmessage = async (event) => {
  const { buffers, concurrency, resize, repeats } = event.data;
  const options = resize ? { resizeWidth: resize, resizeHeight: resize } : undefined;
  const decodeAll = async (blobs) => {
    let next = 0;
    const lane = async () => {
      while (next < blobs.length) {
        const blob = blobs[next++];
        const bitmap = await (options ? createImageBitmap(blob, options) : createImageBitmap(blob));
        bitmap.close();
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, blobs.length) }, lane));
    return performance.now() - t0;
  };
  try {
    // Fresh Blobs every pass (as the importer makes one per file), without a type (as the importer's).
    const blobs = () => buffers.map((b) => new Blob([b]));
    await decodeAll(blobs().slice(0, Math.min(8, buffers.length)));
    const times = [];
    for (let r = 0; r < repeats; r++) times.push(await decodeAll(blobs()));
    postMessage({ times });
  } catch (e) {
    postMessage({ error: String(e) });
  }
};
`;

interface RawResult {
  /** ms of each pass over all files. */
  times: number[];
}

async function rawDecode(page: Page, files: Buffer[], resize: number | null): Promise<RawResult> {
  return page.evaluate(
    async ({ files, source, concurrency, resize, repeats }) => {
      const buffers = files.map((b64) => {
        const binary = atob(b64);
        const bytes = new Uint8Array(binary.length);
        for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
        return bytes.buffer;
      });
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      const worker = new Worker(url);
      try {
        const reply = await new Promise<{ times?: number[]; error?: string }>((resolve, reject) => {
          worker.onmessage = (e) => resolve(e.data);
          worker.onerror = (e) => reject(new Error(`raw decode worker: ${e.message}`));
          worker.postMessage({ buffers, concurrency, resize, repeats }, buffers);
        });
        if (reply.error || !reply.times) throw new Error(`raw decode worker: ${reply.error}`);
        return { times: reply.times };
      } finally {
        worker.terminate();
        URL.revokeObjectURL(url);
      }
    },
    { files: files.map((f) => f.toString('base64')), source: RAW_WORKER, concurrency: CONCURRENCY, resize, repeats: RAW_REPEATS },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The app: import the folder through the page, as a user does.

interface ImportFigures {
  found: number;
  processed: number;
  decoded: number;
  fromCache: number;
  skipped: number;
  /** The page's own elapsed figure ("· 3.2 s"), in seconds: 0.1 s resolution. */
  pageSeconds: number;
  /** From just before the files are handed to the file chooser to the "Imported …" text, in seconds. */
  wallSeconds: number;
  text: string;
}

const DONE = /Imported (.+?): (\d+) of (\d+) files · (\d+) decoded · (\d+) from cache · (\d+) skipped(?: \(\d+ duplicates\))? · ([\d.]+) s/;

async function appReady(page: Page, size: number): Promise<void> {
  const timeout = 120_000;
  await page.getByRole('status', { name: 'GPU status' }).getByText('GPU check passed').waitFor({ timeout });
  await page.getByRole('region', { name: 'Images' }).getByText('Fashion-MNIST sample').first().waitFor({ timeout });
  await page.getByLabel('Image size for training').selectOption(String(size), { timeout });
  await page.waitForFunction(() => {
    const button = Array.from(document.querySelectorAll('button')).find((b) => b.textContent === 'Choose folder');
    return button !== undefined && !button.disabled;
  }, undefined, { timeout });
}

async function appImport(page: Page, dir: string): Promise<ImportFigures> {
  // The end time is taken in the page the moment the text appears (Date.now() is the same clock as Node's).
  await page.evaluate((pattern) => {
    const done = new RegExp(pattern);
    const w = window as unknown as { __benchDone?: { at: number; text: string } | null };
    w.__benchDone = null;
    const check = () => {
      if (w.__benchDone) return;
      const text = Array.from(document.querySelectorAll('p[aria-live="polite"]')).map((p) => p.textContent ?? '').find((t) => done.test(t));
      if (text) {
        w.__benchDone = { at: Date.now(), text };
        observer.disconnect();
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  }, DONE.source);
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  const fileChooser = await chooser;
  const started = Date.now();
  await fileChooser.setFiles(dir);
  const handle = await page.waitForFunction(() => (window as unknown as { __benchDone?: unknown }).__benchDone, undefined, { timeout: 600_000, polling: 100 });
  const done = (await handle.jsonValue()) as { at: number; text: string };
  const m = DONE.exec(done.text)!;
  return {
    processed: Number(m[2]),
    found: Number(m[3]),
    decoded: Number(m[4]),
    fromCache: Number(m[5]),
    skipped: Number(m[6]),
    pageSeconds: Number(m[7]),
    wallSeconds: (done.at - started) / 1000,
    text: done.text,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting.

interface Measurement {
  measurement: 'raw_decode' | 'raw_decode_resize' | 'app_import' | 'app_cached_import';
  what: string;
  images: number;
  /** Seconds for all images: the median pass for the raw decodes, wall time for the app. */
  seconds: number;
  per_sec: number;
  /** App only: files/s from the page's own elapsed figure (0.1 s resolution). */
  page_seconds?: number;
  /** null when the page shows 0.0 s. */
  page_per_sec?: number | null;
  /** Raw only: every pass, images/s. */
  passes_per_sec?: number[];
  decoded?: number;
  from_cache?: number;
  skipped?: number;
}

function rawMeasurement(kind: 'raw_decode' | 'raw_decode_resize', what: string, n: number, result: RawResult): Measurement {
  const seconds = median(result.times) / 1000;
  return {
    measurement: kind,
    what,
    images: n,
    seconds: round(seconds, 3),
    per_sec: round(n / seconds),
    passes_per_sec: result.times.map((ms) => round((n * 1000) / ms)),
  };
}

function appMeasurement(kind: 'app_import' | 'app_cached_import', what: string, f: ImportFigures): Measurement {
  return {
    measurement: kind,
    what,
    images: f.processed,
    seconds: round(f.wallSeconds, 3),
    per_sec: round(f.processed / f.wallSeconds),
    page_seconds: f.pageSeconds,
    page_per_sec: f.pageSeconds > 0 ? round(f.processed / f.pageSeconds) : null,
    decoded: f.decoded,
    from_cache: f.fromCache,
    skipped: f.skipped,
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main({ command, loadBefore, started }: RunStart): Promise<void> {
  const { count, size, json } = options;
  const { browser, chromiumVersion } = await harness.start();

  // Files and the raw baseline, in a page of their own, with no app running beside them.
  // The app's Content-Security-Policy (vite preview sends it for every page) allows no blob: worker; this page is
  // the benchmark's own yardstick, not the app, so it runs without the policy.
  const benchContext = await harness.newContext(browser, { bypassCSP: true });
  const bench = await benchContext.newPage();
  await bench.goto(`${BASE_URL}/favicon.svg`);
  log(`encoding ${count} photo-like ${WIDTH} × ${HEIGHT} JPEGs`);
  const t0 = Date.now();
  const photos = await encodePhotos(bench, count);
  const names = photos.map((_, i) => `${FOLDER}/photo-${String(i + 1).padStart(4, '0')}.jpg`);
  const dir = writeFolder(FOLDER, Object.fromEntries(names.map((name, i) => [name.slice(FOLDER.length + 1), photos[i]!])));
  const tempDir = dirname(dir);
  harness.atCleanup(() => rmSync(tempDir, { recursive: true, force: true }));
  const kB = photos.map((p) => p.length / 1000);
  const totalMB = kB.reduce((a, b) => a + b, 0) / 1000;
  log(`  ${((Date.now() - t0) / 1000).toFixed(1)} s; JPEG sizes ${Math.min(...kB).toFixed(0)}–${Math.max(...kB).toFixed(0)} kB, median ${median(kB).toFixed(0)} kB, ${totalMB.toFixed(1)} MB in all; in ${dir}`);

  log(`raw decode: createImageBitmap(blob), ${CONCURRENCY} in flight, ${RAW_REPEATS} passes`);
  const rawFull = rawMeasurement('raw_decode', `createImageBitmap(blob), ${WIDTH}×${HEIGHT}`, count, await rawDecode(bench, photos, null));
  log(`raw decode: createImageBitmap(blob, { resizeWidth: ${size}, resizeHeight: ${size} })`);
  const rawResize = rawMeasurement('raw_decode_resize', `createImageBitmap(blob, resize ${size}×${size})`, count, await rawDecode(bench, photos, size));
  await benchContext.close();

  // The app, as a user drives it (the <input webkitdirectory> path, which Playwright can fill).
  const appContext = await harness.newContext(browser);
  const app = await appContext.newPage();
  await app.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  log('opening the app (waiting for the GPU check)');
  await app.goto(BASE_URL);
  await appReady(app, size);
  await app.getByRole('button', { name: 'Clear image cache' }).click();
  await app.getByText('Image cache cleared.').waitFor({ timeout: 60_000 });
  log(`app import at ${size} × ${size}, cache cleared`);
  const first = await appImport(app, dir);
  log(`  ${first.text}`);
  if (first.decoded !== count || first.skipped !== 0) log(`  warning: expected ${count} decoded and 0 skipped`);

  log('reloading; app import again (from the decode cache)');
  await app.reload();
  await appReady(app, size);
  const second = await appImport(app, dir);
  log(`  ${second.text}`);
  if (second.fromCache !== count || second.decoded !== 0) log(`  warning: expected ${count} from cache and 0 decoded`);
  await appContext.close();

  const measurements = [
    rawFull,
    rawResize,
    appMeasurement('app_import', `app import (${size}×${size}, cache cleared)`, first),
    appMeasurement('app_cached_import', `app import again after reload (from cache)`, second),
  ];
  const { nproc, cpuModel, os } = machine();
  const date = new Date().toISOString();
  const summary = {
    raw_decode_per_sec: rawFull.per_sec,
    raw_decode_resize_per_sec: rawResize.per_sec,
    app_import_per_sec: measurements[2]!.per_sec,
    app_cached_import_per_sec: measurements[3]!.per_sec,
    count,
    size,
  };

  const fmt = (x: number) => x.toFixed(1);
  // The page rounds its figure to 0.1 s: below 0.5 s that hides more than ±10 %, so the table gives the range.
  const pageRate = (n: number, shown: number) => {
    if (shown >= 0.5) return fmt(n / shown);
    const low = (n / (shown + 0.05)).toFixed(0);
    return shown >= 0.1 ? `${low}–${(n / (shown - 0.05)).toFixed(0)}` : `≥ ${low}`;
  };
  const rows = [
    ['Measurement', 'Files', 'Time (s)', 'Files/s', 'vs raw decode', 'Page figure (s)', 'Files/s (page figure)'],
    ...measurements.map((m) => [
      m.what,
      String(m.images),
      m.seconds.toFixed(2),
      fmt(m.per_sec),
      `${((m.per_sec / rawFull.per_sec) * 100).toFixed(0)} %`,
      m.page_seconds === undefined ? '' : m.page_seconds.toFixed(1),
      m.page_seconds === undefined ? '' : pageRate(m.images, m.page_seconds),
    ]),
  ];
  const text = report(
    { command, loadBefore, started },
    {
      machine: `${nproc} CPUs (${cpuModel}), ${os}`,
      chromium: `${chromiumVersion}, headless, software WebGPU (SwiftShader) flags from e2e/browser.ts`,
      date,
      details: [
        `Files:    ${count} JPEG, ${WIDTH} × ${HEIGHT}, ${Math.min(...kB).toFixed(0)}–${Math.max(...kB).toFixed(0)} kB (median ${median(kB).toFixed(0)} kB); ` +
          `raw decodes: ${CONCURRENCY} in flight, median of ${RAW_REPEATS} passes (each pass, files/s: ` +
          `${rawFull.passes_per_sec!.join(', ')} / ${rawResize.passes_per_sec!.join(', ')})`,
      ],
      rows,
      notes: [
        'App time is wall time from handing the folder to the file chooser to the "Imported …" text; the page figure is the',
        'import\'s own elapsed time as the page shows it (rounded to 0.1 s; short ones are given as a range). The summary uses',
        'wall time.',
      ],
    },
  );

  print(text, json, () => [
    ...measurements.map((m) => ({ kind: 'measurement', ...m, count, size })),
    { kind: 'summary', ...summary, nproc, chromium: chromiumVersion, date, command },
  ]);
}

harness.run(main);
