// Page responsiveness benchmark: the page's frame times (requestAnimationFrame intervals) while a run trains, next to
// the same page idle.
//
//   npm run build                                   # once: this script serves dist/, it builds nothing
//   npm run bench:frames -- [--seconds N] [--json]
//
// It serves dist/ with `vite preview` on port 4175, launches headless Chromium with the browser tests' flags
// (e2e/browser.ts), opens the app and waits for "GPU check passed" and the built-in sample images, then measures for
// N seconds (default 10) each:
//   idle       the page with the sample loaded and nothing running
//   training   a small run (width multiplier 0.125, batch 8, a map of 100 images every 5 steps), from the moment the
//              run state reads "Training" with at least one step done: steps complete, the curves and the map update
// Per phase: frame intervals (median, p95, p99, max; nearest-rank percentiles), long frames (> 50 ms), main-thread
// long tasks (PerformanceObserver 'longtask', where the browser has it), and the training steps done in the window
// (from the run state's "step X of Y"). It asserts no time: figures depend on the machine.
import { type Page } from '@playwright/test';
import { createBench, machine, parseArgs, print, report, requireDist, round, type RunStart } from './lib/bench';

/** Not 4173 (the browser tests) nor 4174 (bench:decode), so that they can run beside this one. */
const PORT = 4175;
/** A frame interval above this counts as a long frame (the same threshold as a long task). */
const LONG_FRAME_MS = 50;
/** The run: small enough for a software adapter, with the map redrawn often. */
const RUN = { width: 0.125, batchSize: 8, mapEvery: 5, mapImages: 100 };
/** Viewport: a laptop screen, so that the curves and the map are drawn at a realistic size. */
const VIEWPORT = { width: 1280, height: 800 };
const USAGE = 'usage: npm run bench:frames -- [--seconds N] [--json]';

const options = parseArgs(process.argv.slice(2), {
  name: 'bench:frames',
  usage: USAGE,
  defaults: { seconds: 10 },
  values: {
    seconds: (text) => {
      const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
      return value >= 1 && value <= 600 ? value : `--seconds must be a number from 1 to 600, got ${JSON.stringify(text)}`;
    },
  },
});
requireDist('bench:frames');

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
  await page.getByLabel('Images on the map').fill(String(RUN.mapImages));
  const start = page.getByRole('button', { name: 'Start' });
  if (!(await start.isEnabled())) {
    const problems = await page.locator('.field-problem').allTextContents();
    throw new Error(`the page refuses the run's settings: ${problems.join('; ') || '(no problem shown)'}`);
  }
  await start.click();
}

/** Waits until the run state reads "Training" with at least one step done; returns that text. */
async function trainingUnderway(page: Page): Promise<string> {
  const handle = await page.waitForFunction(
    () => {
      const text = document.querySelector('.run-state')?.textContent ?? '';
      const m = /^Training · step (\d+) of \d+/.exec(text);
      return m && Number(m[1]) >= 1 ? text : null;
    },
    undefined,
    { timeout: 300_000, polling: 250 },
  );
  return (await handle.jsonValue()) as string;
}

/** What the page recorded over one window. */
interface Recording {
  /** requestAnimationFrame timestamps (ms, performance.now clock), first to last. */
  stamps: number[];
  /** Long tasks that began inside the window; null when the browser does not report them. */
  longTasks: { start: number; duration: number }[] | null;
  stateBefore: string;
  stateAfter: string;
  /** Distinct map steps seen while the window was open ("Embedding map: … at step N"). */
  mapSteps: number[];
}

/**
 * Records rAF timestamps for `ms` milliseconds in the page, with a long-task observer and a watch on the map, and
 * nothing else running on the page's side: Playwright waits on one promise and does not poll meanwhile.
 */
async function record(page: Page, ms: number): Promise<Recording> {
  return page.evaluate(async (ms) => {
    const runState = () => document.querySelector('.run-state')?.textContent ?? '';
    const hasLongTask = typeof PerformanceObserver !== 'undefined' && (PerformanceObserver.supportedEntryTypes ?? []).includes('longtask');
    const tasks: { start: number; duration: number }[] = [];
    const taskObserver = hasLongTask
      ? new PerformanceObserver((list) => {
          for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
        })
      : null;
    taskObserver?.observe({ type: 'longtask' });

    const mapSteps = new Set<number>();
    const seeMap = () => {
      const label = document.querySelector('[role="img"][aria-label^="Embedding map:"]')?.getAttribute('aria-label') ?? '';
      const m = / at step (\d+)/.exec(label);
      if (m) mapSteps.add(Number(m[1]));
    };
    const mapObserver = new MutationObserver(seeMap);
    mapObserver.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label'] });

    const stamps: number[] = [];
    let stateBefore = '';
    let stateAfter = '';
    await new Promise<void>((resolve) => {
      const tick = (t: number) => {
        if (stamps.length === 0) {
          stateBefore = runState();
          seeMap();
        }
        stamps.push(t);
        if (t - stamps[0]! >= ms) {
          stateAfter = runState();
          resolve();
        } else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    mapObserver.disconnect();
    // Long-task entries are delivered a little after the task: give the last ones time to arrive.
    await new Promise((r) => setTimeout(r, 300));
    if (taskObserver) {
      for (const e of taskObserver.takeRecords()) tasks.push({ start: e.startTime, duration: e.duration });
      taskObserver.disconnect();
    }
    const first = stamps[0]!;
    const last = stamps[stamps.length - 1]!;
    return {
      stamps,
      longTasks: taskObserver ? tasks.filter((t) => t.start >= first && t.start < last) : null,
      stateBefore,
      stateAfter,
      mapSteps: [...mapSteps].sort((a, b) => a - b),
    };
  }, ms);
}

// ---------------------------------------------------------------------------------------------------------------
// Figures.

interface Phase {
  phase: 'idle' | 'training';
  /** Length of the window, first to last frame, in seconds. */
  seconds: number;
  /** Frame intervals measured (callbacks − 1). */
  frames: number;
  fps: number;
  median_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Intervals above LONG_FRAME_MS. */
  long_frames: number;
  /** Time spent in long frames, as a share of the window. */
  long_frame_share: number;
  /** null when the browser does not report long tasks. */
  long_tasks: number | null;
  long_task_ms: number | null;
  long_task_max_ms: number | null;
  /** Training steps completed inside the window (0 when idle). */
  steps: number;
  steps_per_sec: number;
  /** Map snapshots that replaced the shown map inside the window. */
  map_updates: number;
  state_before: string;
  state_after: string;
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const stepOf = (text: string) => {
  const m = /step (\d+) of (\d+)/.exec(text);
  return m ? Number(m[1]) : null;
};

function figures(phase: Phase['phase'], r: Recording): Phase {
  const intervals = r.stamps.slice(1).map((t, i) => t - r.stamps[i]!);
  if (intervals.length === 0) throw new Error(`${phase}: the page drew no frames`);
  const sorted = [...intervals].sort((a, b) => a - b);
  const windowMs = r.stamps[r.stamps.length - 1]! - r.stamps[0]!;
  const long = intervals.filter((x) => x > LONG_FRAME_MS);
  const before = stepOf(r.stateBefore);
  const after = stepOf(r.stateAfter);
  const steps = before !== null && after !== null ? after - before : 0;
  const tasks = r.longTasks;
  return {
    phase,
    seconds: round(windowMs / 1000, 2),
    frames: intervals.length,
    fps: round((intervals.length * 1000) / windowMs),
    median_ms: round(percentile(sorted, 50)),
    p95_ms: round(percentile(sorted, 95)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted[sorted.length - 1]!),
    long_frames: long.length,
    long_frame_share: round(long.reduce((a, b) => a + b, 0) / windowMs, 3),
    long_tasks: tasks ? tasks.length : null,
    long_task_ms: tasks ? round(tasks.reduce((a, t) => a + t.duration, 0), 0) : null,
    long_task_max_ms: tasks ? round(Math.max(0, ...tasks.map((t) => t.duration)), 0) : null,
    steps,
    steps_per_sec: round(steps / (windowMs / 1000), 2),
    map_updates: r.mapSteps.filter((s) => before === null || s > before).length,
    state_before: r.stateBefore,
    state_after: r.stateAfter,
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main({ command, loadBefore, started }: RunStart): Promise<void> {
  const { seconds, json } = options;
  // Enough steps to outlast the window on any adapter; the run is stopped once the window closes.
  const steps = Math.max(10_000, Math.ceil(seconds * 1000));

  const { browser, chromiumVersion } = await harness.start();

  const context = await harness.newContext(browser, { viewport: VIEWPORT });
  const page = await context.newPage();
  log('opening the app (waiting for the GPU check and the sample images)');
  await page.goto(harness.baseUrl);
  await appReady(page);
  const gpu = (await page.getByRole('status', { name: 'GPU status' }).innerText()).replace(/\s+/g, ' ').trim();
  log(`  ${gpu}`);
  // Let the page settle (thumbnails, fonts, the first layout) before the idle window.
  await page.waitForTimeout(1_000);

  log(`idle: ${seconds} s of frames`);
  const idle = figures('idle', await record(page, seconds * 1000));
  log(`  ${idle.frames} frames, median ${idle.median_ms} ms, p95 ${idle.p95_ms} ms`);

  log(`starting a run: width ${RUN.width}, batch ${RUN.batchSize}, ${steps} steps, a map of ${RUN.mapImages} images every ${RUN.mapEvery} steps`);
  const t0 = Date.now();
  await startRun(page, steps);
  const underway = await trainingUnderway(page);
  log(`  "${underway}" after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  log(`training: ${seconds} s of frames`);
  const training = figures('training', await record(page, seconds * 1000));
  log(`  ${training.frames} frames, median ${training.median_ms} ms, p95 ${training.p95_ms} ms; ${training.steps} steps`);
  if (!training.state_after.startsWith('Training')) log(`  warning: the run was no longer training when the window closed ("${training.state_after}")`);
  if (training.steps === 0) log('  warning: no step completed inside the window');
  await page.getByRole('button', { name: 'Stop' }).click().catch(() => undefined);
  await context.close();

  const phases = [idle, training];
  const { nproc, cpuModel, os, ramGiB } = machine();
  const date = new Date().toISOString();
  const summary = { idle_p95_ms: idle.p95_ms, training_p95_ms: training.p95_ms, training_steps: training.steps, seconds };

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
        `Run:      width multiplier ${RUN.width}, batch ${RUN.batchSize}, a map of ${RUN.mapImages} images every ${RUN.mapEvery} steps; ` +
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
