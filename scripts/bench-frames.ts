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
import { chromium, type Browser, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, systemChromium } from '../e2e/browser';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Not 4173 (the browser tests) nor 4174 (bench:decode), so that they can run beside this one. */
const PORT = 4175;
const BASE_URL = `http://localhost:${PORT}`;
/** A frame interval above this counts as a long frame (the same threshold as a long task). */
const LONG_FRAME_MS = 50;
/** The run: small enough for a software adapter, with the map redrawn often. */
const RUN = { width: 0.125, batchSize: 8, mapEvery: 5, mapImages: 100 };
/** Viewport: a laptop screen, so that the curves and the map are drawn at a realistic size. */
const VIEWPORT = { width: 1280, height: 800 };
/**
 * tsx compiles this file with esbuild's keepNames, which wraps named functions in calls to a `__name` helper; the
 * functions handed to page.evaluate run in the page, where that helper does not exist. Every page gets a stand-in.
 */
const NAME_SHIM = 'globalThis.__name = globalThis.__name || ((fn) => fn);';
const USAGE = 'usage: npm run bench:frames -- [--seconds N] [--json]';

interface Options {
  seconds: number;
  json: boolean;
}

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 10, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (arg === '--json') {
      options.json = true;
      continue;
    }
    const match = /^--seconds(?:=(.*))?$/.exec(arg);
    if (!match) fail(`bench:frames: unknown argument ${JSON.stringify(arg)}; ${USAGE}`);
    const text = match[1] ?? argv[++i];
    if (text === undefined) fail(`bench:frames: --seconds needs a value; ${USAGE}`);
    const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
    if (!(value >= 1 && value <= 600)) fail(`bench:frames: --seconds must be a number from 1 to 600, got ${JSON.stringify(text)}`);
    options.seconds = value;
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
if (!existsSync(resolve(ROOT, 'dist/index.html'))) fail('bench:frames: dist/index.html not found: run `npm run build` first.');

/** Progress goes to stderr, so that --json leaves stdout to the JSON lines. */
const log = (line: string) => console.error(`[bench:frames] ${line}`);

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: the preview server and the browser go away on success, on error and on Ctrl-C.

let server: ChildProcess | null = null;
let browser: Browser | null = null;
/** Set on Ctrl-C: what fails after that fails because the browser is being closed, and is not reported. */
let stopping = false;

function stopServer(): void {
  const child = server;
  server = null;
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  // npx runs vite as a grandchild: the server has its own process group, and the whole group is stopped.
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
}

async function cleanup(): Promise<void> {
  const open = browser;
  browser = null;
  await open?.close().catch(() => undefined);
  stopServer();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
// A last resort if the process exits some other way: never leave the server running.
process.on('exit', stopServer);

async function startServer(): Promise<void> {
  const child = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`vite preview exited before answering (port ${PORT} busy?):\n${output.trim()}`);
    }
    try {
      const response = await fetch(BASE_URL, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`vite preview did not answer on ${BASE_URL} within 60 s:\n${output.trim()}`);
}

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
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
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

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}`;
  return [line(rows[0]!), `${rule}|`, ...rows.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { seconds, json } = options;
  const command = `npm run bench:frames${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const loadBefore = loadavg()[0]!;
  const started = Date.now();
  // Enough steps to outlast the window on any adapter; the run is stopped once the window closes.
  const steps = Math.max(10_000, Math.ceil(seconds * 1000));

  log(`serving dist/ on ${BASE_URL}`);
  await startServer();
  const executablePath = systemChromium();
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const chromiumVersion = browser.version();
  log(`Chromium ${chromiumVersion}${executablePath ? ` (${executablePath})` : ''}`);

  const context = await browser.newContext({ viewport: VIEWPORT });
  await context.addInitScript({ content: NAME_SHIM });
  const page = await context.newPage();
  log('opening the app (waiting for the GPU check and the sample images)');
  await page.goto(BASE_URL);
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
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
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
  const report = [
    '',
    `Command:  ${command}`,
    `Machine:  nproc ${availableParallelism()}; ${cpuModel}, ${process.platform}/${process.arch}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; load average ${loadBefore.toFixed(2)} when the run began`,
    `Chromium: ${chromiumVersion}, headless, WebGPU flags from e2e/browser.ts; ${gpu}`,
    `Date:     ${date}`,
    `Run:      width multiplier ${RUN.width}, batch ${RUN.batchSize}, a map of ${RUN.mapImages} images every ${RUN.mapEvery} steps; ` +
      `window ${seconds} s per phase (training from "${training.state_before}" to "${training.state_after}")`,
    '',
    table(rows),
    '',
    'Frames are requestAnimationFrame intervals in the page; percentiles are nearest-rank. Long tasks are the main',
    "thread's (PerformanceObserver 'longtask'); steps are those the run state counted inside the window.",
    `Whole run: ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ].join('\n');

  if (json) {
    console.error(report);
    for (const p of phases) console.log(JSON.stringify({ kind: 'phase', ...p }));
    console.log(JSON.stringify({ kind: 'summary', ...summary, nproc: availableParallelism(), cpu: cpuModel, chromium: chromiumVersion, date, command }));
  } else {
    console.log(report);
  }
}

main()
  .then(() => cleanup())
  .catch(async (e: unknown) => {
    if (stopping) return; // the signal handler cleans up and exits
    console.error(`bench:frames failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanup();
    process.exit(1);
  });
