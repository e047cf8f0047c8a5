// Page responsiveness benchmark: the page's frame times (requestAnimationFrame intervals) while a run trains, next to
// the same page idle.
//
//   npm run build                                   # once: this script serves dist/ (or TABCLR_DIST), it builds nothing
//   npm run bench:frames -- [--seconds N] [--map-images M] [--data DIR] [--backend webgpu|webgl] [--json]
//
// It serves dist/ with `vite preview` on port 4175, launches headless Chromium with the browser tests' flags
// (e2e/browser.ts), opens the app and waits for "GPU check passed" and the built-in sample images, then measures for
// N seconds (default 10) each:
//   idle       the page with the sample loaded and nothing running
//   training   a small run (width multiplier 0.125, batch 8, a map of M images (default 100) every 5 steps), from the
//              moment the run state reads "Training" with at least one step done and the map is drawn: steps complete,
//              the curves and the map update
//   zooming    the same run, while the script zooms the map in and out and pans it with the wheel every frame: the
//              map redrawn at each frame (skipped on a page whose map does not zoom)
// --data DIR imports a folder (at 32 px) instead of the built-in sample, for maps larger than its 300 images;
// --backend forces the trainer's backend (?backend=).
// Per phase: frame intervals (median, p95, p99, max; nearest-rank percentiles), long frames (> 50 ms), main-thread
// long tasks (PerformanceObserver 'longtask', where the browser has it), and the training steps done in the window
// (from the run state's "step X of Y"). It asserts no time: figures depend on the machine.
import { type Page } from '@playwright/test';
import { basename } from 'node:path';
import { BACKENDS } from './lib/app';
import { decimal, oneOf, pathText, wholeNumber } from './lib/args';
import { folderOrExit, stageFolder, type Folder } from './lib/folder';
import type { BackendName } from '../src/worker/protocol';
import { createBench, machine, parseArgs, print, report, requireDist, type RunStart } from './lib/bench';
import { LONG_FRAME_MS, figures, record } from './lib/frames';

/** Not 4173 (the browser tests) nor 4174 (bench:decode), so that they can run beside this one. */
const PORT = 4175;
/** The run: small enough for a software adapter, with the map redrawn often. */
const RUN = { width: 0.125, batchSize: 8, mapEvery: 5 };
/** Viewport: a laptop screen, so that the curves and the map are drawn at a realistic size. */
const VIEWPORT = { width: 1280, height: 800 };
const USAGE = 'usage: npm run bench:frames -- [--seconds N] [--map-images M] [--data DIR] [--backend webgpu|webgl] [--json]';

const options = parseArgs(process.argv.slice(2), {
  name: 'bench:frames',
  usage: USAGE,
  defaults: { seconds: 10, 'map-images': 100, data: undefined as string | undefined, backend: undefined as BackendName | undefined },
  values: {
    seconds: decimal(1, 600),
    'map-images': wholeNumber(2, 2000),
    data: pathText,
    backend: oneOf(BACKENDS),
  },
});
requireDist('bench:frames');
// Read here, links followed, so that a loop or an unreadable folder is refused before the browser opens.
const data = options.data === undefined ? null : folderOrExit('bench:frames', options.data, 'data', `; ${USAGE}`);

// The preview server and the browser go away on success, on error and on Ctrl-C.
const harness = createBench('bench:frames', PORT);
const log = harness.log;

// ---------------------------------------------------------------------------------------------------------------
// The page.

async function appReady(page: Page): Promise<void> {
  const timeout = 180_000;
  await page.getByRole('status', { name: 'GPU status' }).getByText('GPU check passed').waitFor({ timeout });
  await page.getByRole('region', { name: 'Images' }).getByText(/\d+ images,/).first().waitFor({ timeout });
  await page.getByRole('button', { name: 'Start' }).and(page.locator(':enabled')).waitFor({ timeout });
}

/** Sets up the run through the form, as e2e/watch.spec.ts does, and starts it. */
async function startRun(page: Page, steps: number): Promise<void> {
  await page.getByLabel('Width multiplier', { exact: true }).fill(String(RUN.width));
  await page.getByLabel('Batch size', { exact: true }).fill(String(RUN.batchSize));
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill(String(RUN.mapEvery));
  await page.getByLabel('Images on the map').fill(String(options['map-images']));
  const start = page.getByRole('button', { name: 'Start' });
  if (!(await start.isEnabled())) {
    const problems = await page.locator('.field-problem').allTextContents();
    throw new Error(`the page refuses the run's settings: ${problems.join('; ') || '(no problem shown)'}`);
  }
  await start.click();
}

/**
 * Imports the folder through "Choose folder" at 32 px and waits for its summary: the folder itself, or the same tree
 * staged without symbolic links, which Chromium does not follow (scripts/lib/folder.ts), removed once imported.
 */
async function importFolder(page: Page, folder: Folder): Promise<string> {
  const staged = stageFolder(folder);
  try {
    if (staged.dir !== folder.dir) log(`  ${folder.dir} holds symbolic links, which Chromium does not follow: the page gets the same tree staged in ${staged.dir}`);
    for (const f of staged.leftOut) log(`  skipped ${f.path}: ${f.reason}`);
    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Choose folder' }).click();
    await (await chooser).setFiles(staged.dir);
    const summary = page.getByRole('region', { name: 'Images' }).locator('.dataset-summary');
    await summary.getByText(basename(folder.dir)).waitFor({ timeout: 600_000 });
    return (await summary.innerText()).trim();
  } finally {
    staged.remove();
  }
}

/** Waits until the run state reads "Training" with at least one step done and the map is drawn; returns that text. */
async function trainingUnderway(page: Page): Promise<string> {
  const handle = await page.waitForFunction(
    () => {
      const text = document.querySelector('.run-state')?.textContent ?? '';
      const m = /^Training · step (\d+) of \d+/.exec(text);
      const mapped = document.querySelector('[role="img"][aria-label^="Embedding map:"]') !== null;
      return m && Number(m[1]) >= 1 && mapped ? text : null;
    },
    undefined,
    // A map of 2,000 images on a software adapter takes minutes.
    { timeout: 1_200_000, polling: 250 },
  );
  return (await handle.jsonValue()) as string;
}

// ---------------------------------------------------------------------------------------------------------------

async function main({ command, loadBefore, started }: RunStart): Promise<void> {
  const { seconds, json } = options;
  // Enough steps to outlast the window on any adapter; the run is stopped once the window closes.
  const steps = Math.max(10_000, Math.ceil(seconds * 1000));

  const { browser, chromiumVersion } = await harness.start();

  const context = await harness.newContext(browser, { viewport: VIEWPORT });
  // "Choose folder" falls back to the file input the script can fill when the directory picker is missing.
  if (data) await context.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  const page = await context.newPage();
  log('opening the app (waiting for the GPU check and the sample images)');
  await page.goto(options.backend ? `${harness.baseUrl}/?backend=${options.backend}` : harness.baseUrl);
  await appReady(page);
  const gpu = (await page.getByRole('status', { name: 'GPU status' }).innerText()).replace(/\s+/g, ' ').trim();
  log(`  ${gpu}`);
  let dataLine = 'the built-in sample (300 Fashion-MNIST images, 28 px)';
  if (data) {
    log(`importing ${data.dir}`);
    dataLine = await importFolder(page, data);
    log(`  ${dataLine}`);
  }
  // Let the page settle (thumbnails, fonts, the first layout) before the idle window.
  await page.waitForTimeout(1_000);

  log(`idle: ${seconds} s of frames`);
  const idle = figures('idle', await record(page, seconds * 1000));
  log(`  ${idle.frames} frames, median ${idle.median_ms} ms, p95 ${idle.p95_ms} ms`);

  log(`starting a run: width ${RUN.width}, batch ${RUN.batchSize}, ${steps} steps, a map of ${options['map-images']} images every ${RUN.mapEvery} steps`);
  const t0 = Date.now();
  await startRun(page, steps);
  const underway = await trainingUnderway(page);
  log(`  "${underway}" after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  log(`training: ${seconds} s of frames`);
  const training = figures('training', await record(page, seconds * 1000));
  log(`  ${training.frames} frames, median ${training.median_ms} ms, p95 ${training.p95_ms} ms; ${training.steps} steps`);
  if (!training.state_after.startsWith('Training')) log(`  warning: the run was no longer training when the window closed ("${training.state_after}")`);
  if (training.steps === 0) log('  warning: no step completed inside the window');

  // Zooming: the wheel over the map every frame, in and out, while the run goes on (pages whose map zooms only).
  let zooming: ReturnType<typeof figures> | null = null;
  const zoomable = (await page.getByRole('button', { name: 'Zoom in' }).count()) > 0;
  const stateNow = await page.locator('.run-state').innerText();
  if (zoomable && stateNow.startsWith('Training')) {
    log(`zooming: ${seconds} s of frames, the map zoomed and panned by the wheel every frame`);
    const map = page.getByRole('img', { name: /^Embedding map:/ });
    const box = (await map.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const wheel = (async () => {
      const until = Date.now() + seconds * 1000;
      for (let i = 0; Date.now() < until; i++) {
        // In for a second, out for a second, drifting across the map.
        await page.mouse.move(box.x + box.width * (0.3 + 0.4 * ((i % 50) / 50)), box.y + box.height / 2);
        await page.mouse.wheel(0, Math.floor(i / 60) % 2 === 0 ? -40 : 40);
      }
    })();
    const [recording] = await Promise.all([record(page, seconds * 1000), wheel]);
    zooming = figures('zooming', recording);
    log(`  ${zooming.frames} frames, median ${zooming.median_ms} ms, p95 ${zooming.p95_ms} ms; ${zooming.steps} steps`);
  } else log(`zooming: skipped (${zoomable ? `the run is no longer training: "${stateNow}"` : "this page's map does not zoom"})`);
  await page.getByRole('button', { name: 'Stop' }).click().catch(() => undefined);
  await context.close();

  const phases = zooming ? [idle, training, zooming] : [idle, training];
  const { nproc, cpuModel, os, ramGiB } = machine();
  const date = new Date().toISOString();
  const summary = {
    idle_p95_ms: idle.p95_ms,
    training_p95_ms: training.p95_ms,
    zooming_p95_ms: zooming?.p95_ms ?? null,
    training_steps: training.steps,
    map_images: options['map-images'],
    data: options.data ?? 'sample',
    backend: options.backend ?? 'auto',
    seconds,
  };

  const na = (x: number | null, unit = '') => (x === null ? 'n/a' : `${x}${unit}`);
  const rows = [
    ['Phase', 'Frames', 'Frames/s', 'Median (ms)', 'p95 (ms)', 'p99 (ms)', 'Max (ms)', `Long frames (> ${LONG_FRAME_MS} ms)`, 'Long tasks', 'Long-task time (ms)', 'Steps', 'Map updates'],
    ...phases.map((p) => [
      p.phase,
      String(p.frames),
      p.fps.toFixed(1),
      p.median_ms.toFixed(1),
      p.p95_ms.toFixed(1),
      p.p99_ms.toFixed(1),
      p.max_ms.toFixed(1),
      `${p.long_frames} (${(p.long_frame_share * 100).toFixed(0)} % of time)`,
      na(p.long_tasks),
      p.long_task_ms === null ? 'n/a' : `${p.long_task_ms} (max ${p.long_task_max_ms})`,
      String(p.steps),
      String(p.map_updates),
    ]),
  ];
  const text = report(
    { command, loadBefore, started },
    {
      machine: `${cpuModel}, ${os}, ${ramGiB} GiB RAM`,
      chromium: `${chromiumVersion}, headless, WebGPU flags from e2e/browser.ts; ${gpu}`,
      date,
      details: [
        `Data:     ${dataLine}`,
        `Run:      width multiplier ${RUN.width}, batch ${RUN.batchSize}, a map of ${options['map-images']} images every ${RUN.mapEvery} steps; ` +
          `window ${seconds} s per phase (training from "${training.state_before}" to "${training.state_after}")`,
      ],
      rows,
      notes: [
        'Frames are requestAnimationFrame intervals in the page; percentiles are nearest-rank. Long tasks are the main',
        "thread's (PerformanceObserver 'longtask'); steps are those the run state counted inside the window.",
      ],
    },
  );

  print(text, json, () => [
    ...phases.map((p) => ({ kind: 'phase', ...p })),
    { kind: 'summary', ...summary, nproc, cpu: cpuModel, chromium: chromiumVersion, date, command },
  ]);
}

harness.run(main);
